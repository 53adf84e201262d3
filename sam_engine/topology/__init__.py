"""Virtualisation topology: which physical server each scanned VM runs on, and which it can move to.

Host-level licence metrics (Oracle soft partitioning, Windows Server and SQL
Server per host, RHEL for virtual datacenters) count the hypervisor's
hardware, which a guest's own scan cannot see. Hypervisor collectors report
``model.Topology`` fragments (servers and their VMs); ``FleetTopology`` joins
them with the scanned guests, by the BIOS UUID a guest reports and its
hypervisor knows the VM by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from sam_engine.model import GuestVM, PhysicalServer


@dataclass(frozen=True, slots=True)
class Placement:
    """A scanned guest linked to the VM its hypervisor reports.

    ``reachable`` is every server the VM can run on: its own server's cluster
    (live migration, the soft-partitioning scope), or only its own server when
    that is standalone.
    """

    inventory_name: str
    vm: GuestVM
    server: PhysicalServer
    reachable: tuple[PhysicalServer, ...]

    @property
    def hard_partitioned(self) -> bool:
        return bool(self.vm.pinned_cpus)


@dataclass(frozen=True, slots=True)
class FleetTopology:
    """Every known server, the VMs on each, the scanned guests linked to them, and the scanned hosts
    that are themselves servers (a KVM or Hyper-V host scanned for its software: ``hypervisors``)."""

    servers: Mapping[str, PhysicalServer] = field(default_factory=dict)  # by PhysicalServer.key
    guests: Mapping[str, tuple[GuestVM, ...]] = field(default_factory=dict)  # by PhysicalServer.key
    placements: Mapping[str, Placement] = field(default_factory=dict)  # by the guest's inventory name
    hypervisors: Mapping[str, str] = field(default_factory=dict)  # inventory name -> PhysicalServer.key

    def placement(self, inventory_name: str) -> Placement | None:
        return self.placements.get(inventory_name)

    def server_itself(self, inventory_name: str) -> PhysicalServer | None:
        """The server a scanned host is (its software runs on that server's cores), else None."""
        key = self.hypervisors.get(inventory_name)
        return self.servers[key] if key is not None else None

    def __bool__(self) -> bool:
        return bool(self.servers)
