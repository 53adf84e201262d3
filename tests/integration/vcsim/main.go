// vcsim for the fleetsam tests: govmomi's vCenter simulator on plain HTTP at
// 127.0.0.1, with the inventory the flags ask for. It prints its SDK URL on
// one line, then serves until it is killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	dc := flag.Int("dc", 1, "datacenters")
	clusters := flag.Int("cluster", 2, "clusters per datacenter")
	hosts := flag.Int("host", 2, "hosts per cluster")
	standalone := flag.Int("standalone-host", 1, "standalone hosts per datacenter")
	vms := flag.Int("vm", 2, "VMs per resource pool")
	sockets := flag.Int("sockets", 2, "CPU packages per host")
	cores := flag.Int("cores", 24, "physical cores per host")
	threads := flag.Int("threads", 48, "hardware threads per host")
	user := flag.String("user", "fleetsam", "the only user name accepted")
	password := flag.String("password", "", "its password (empty: any non-empty credentials)")
	flag.Parse()

	model := simulator.VPX()
	model.Datacenter = *dc
	model.Cluster = *clusters
	model.ClusterHost = *hosts
	model.Host = *standalone
	model.Machine = *vms
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}

	// The simulator's hosts all have 2 sockets of 1 core: give them a
	// licensing-sized CPU so core counts are not all alike.
	for _, entity := range simulator.Map.All("HostSystem") {
		host := entity.(*simulator.HostSystem)
		hw := *host.Summary.Hardware
		hw.NumCpuPkgs = int16(*sockets)
		hw.NumCpuCores = int16(*cores)
		hw.NumCpuThreads = int16(*threads)
		hw.CpuModel = "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz"
		host.Summary.Hardware = &hw
	}
	// One VM pinned to two host CPUs: a hard partition for the parser to see.
	for _, entity := range simulator.Map.All("VirtualMachine") {
		vm := entity.(*simulator.VirtualMachine)
		vm.Config.CpuAffinity = &types.VirtualMachineAffinityInfo{AffinitySet: []int32{0, 1}}
		break
	}

	listen := &url.URL{Host: "127.0.0.1:0"}
	if *password != "" {
		listen.User = url.UserPassword(*user, *password)
	}
	model.Service.Listen = listen
	server := model.Service.NewServer()
	fmt.Fprintln(os.Stdout, server.URL.String())
	select {}
}
