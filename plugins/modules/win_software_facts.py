#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the module itself is win_software_facts.ps1 (plugins/action/win_software_facts.py runs it).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: win_software_facts
short_description: Return the raw Windows software inventory and the hardware facts licences count
version_added: "0.1.0"
description:
  - Reads every Uninstall registry key a Windows host has - the 64-bit view, the
    32-bit C(WOW6432Node) view and the C(HKEY_USERS) hive of every user profile,
    including profiles whose C(NTUSER.DAT) is not loaded - plus SQL Server
    instance editions, Office registrations, the Windows edition and licence
    channel, AppX/MSIX packages of all users, ISO/IEC 19770-2 SWID tags and the
    processor, computer system and identity records, and who uses the host
    (every C(ProfileList) profile with its SID, account name and last use).
  - On a Hyper-V host (the Hyper-V PowerShell module installed) also the host's logical processors and
    each VM's id, BIOS GUID, name, processor count and state, and on a failover cluster node the
    cluster's name and node names.
  - Returns raw values only, as the registry, CIM and AppX report them. The
    fleetsam engine applies the Programs and Features rules (hidden system
    components, updates, duplicate keys, 32/64-bit copies), builds names and
    derives sockets, cores, threads and VM-ness, so that all of it is tested in
    one place.
  - Never queries C(Win32_Product), which makes Windows Installer verify and
    repair every installed product.
  - An unloaded profile is mounted with C(reg.exe load) under a temporary key
    below C(HKEY_USERS) and unloaded again in all cases. A profile that cannot be
    mounted (in use, no privilege, no C(NTUSER.DAT)) is skipped with a warning.
    This is the only thing the module does to the host; nothing is changed, so
    the module reports C(changed=false) and also runs in check mode.
  - A collection step that fails (for example C(Get-AppxPackage) on Server Core)
    is a warning; the other steps still run.
  - The inventory is returned as the plain result key C(windows), not as
    C(ansible_facts).
  - Works over WinRM, PSRP or SSH with PowerShell as the shell; run it with an
    administrator account (per-user hives, C(-AllUsers) and the SQL and
    licensing keys need one).
options:
  user_hives:
    description:
      - Mount the C(NTUSER.DAT) of profiles that are not loaded to read their
        per-user installs. With C(false) only loaded profiles are read and the
        others are listed in C(windows.user_hives) as skipped.
    type: bool
    default: true
  appx:
    description:
      - Also list AppX/MSIX packages with C(Get-AppxPackage -AllUsers).
    type: bool
    default: true
  swid_max_files:
    description:
      - At most this many C(*.swidtag) files below C(%ProgramData%\regid.*) are
        returned; a warning says how many were found when there are more.
    type: int
    default: 200
  swid_max_bytes:
    description:
      - SWID tag files larger than this are listed with their path and size but
        without their text.
    type: int
    default: 262144
  nuspec_max_files:
    description:
      - At most this many Chocolatey package files (C(lib\\<id>\\<id>.nuspec) below the
        Chocolatey folder) are returned; a warning says how many were found when there are more.
    type: int
    default: 2000
  nuspec_max_bytes:
    description:
      - Chocolatey C(.nuspec) files larger than this are listed with their path and size but
        without their text.
    type: int
    default: 65536
  winget:
    description:
      - Return what winget lists as installed. With the C(Microsoft.WinGet.Client) PowerShell module, the
        C(Get-WinGetPackage) objects (RV(windows.winget)); else, with C(winget.exe), the JSON text of
        C(winget export --include-versions) (RV(windows.winget_export)). Neither present gives nothing and no warning.
    type: bool
    default: true
attributes:
  platform:
    description: Target operating systems.
    support: full
    platforms: windows
notes:
  - Registry values are returned unexpanded (a C(REG_EXPAND_SZ) keeps its
    C(%variables%)), DWORDs as integers, multi-strings joined with newlines;
    binary values are not returned. A value that is absent is C(null).
  - On a 32-bit Windows the only machine-wide view is labelled C(HKLM32).
  - The engine can read the same raw entries from C(regedit) exports of these
    keys, for hosts that cannot be reached.
seealso:
  - module: fleetsam.sam.software_facts
  - module: ansible.windows.win_product_facts
extends_documentation_fragment:
  - fleetsam.sam.inventory
author:
  - fleetsam developers (@fleetsam)
'''

EXAMPLES = r'''
- name: Inventory installed software on Windows
  fleetsam.sam.win_software_facts:
  register: software_inventory_result

- name: Only profiles that are logged on, no AppX packages
  fleetsam.sam.win_software_facts:
    user_hives: false
    appx: false
'''

RETURN = r'''
fleetsam_handoff:
  description:
    - Set instead of C(windows) while the C(fleetsam.sam.collector) callback spools the run; the
      controller-side action plugin wrote C(windows) to the callback's hand-over folder, which reads it
      back, so a job event under ansible-runner or AWX stays small.
  returned: when the fleetsam.sam.collector callback is enabled and the collector did not fail
  type: dict
  sample: {field: windows, file: web1-0a1b2c3d-4e5f60718293a4b5c6d7e8f901234567.json, bytes: 245114, sha256: 9f86d081884c7d65...}
windows:
  description: The raw Windows inventory. Every list is empty when its source has nothing or failed (see C(warnings)).
  returned: always, as C(fleetsam_handoff) while the fleetsam.sam.collector callback spools the run
  type: dict
  contains:
    uninstall:
      description:
        - One record per subkey of every Uninstall key read, hidden and update entries included.
        - Registry values keep their registry names; a value the key does not have is C(null).
      returned: always
      type: list
      elements: dict
      sample:
        - hive: HKLM64
          sid: null
          key: "{532C05E1-7376-1014-987E-E28031843670}"
          DisplayName: Strawberry Perl (64-bit)
          DisplayVersion: 5.24.1
          Publisher: strawberryperl.com project
          InstallDate: "20170622"
          InstallLocation: "C:\\Strawberry\\"
          SystemComponent: null
          ParentKeyName: null
          ReleaseType: null
          WindowsInstaller: 1
      contains:
        hive:
          description: >-
            Where the key was read: C(HKLM64) (native view of a 64-bit Windows), C(HKLM32)
            (WOW6432Node, or the native view of a 32-bit Windows) or C(HKU) (a user's hive).
          type: str
        sid: {description: "The user's SID for C(HKU) entries, otherwise null.", type: str}
        key: {description: The subkey name (an MSI product code or a vendor's name)., type: str}
        DisplayName: {description: REG_SZ as stored., type: str}
        DisplayVersion: {description: REG_SZ as stored., type: str}
        Publisher: {description: REG_SZ as stored., type: str}
        InstallDate: {description: Usually C(YYYYMMDD); any text an installer wrote., type: str}
        InstallLocation: {description: REG_SZ or unexpanded REG_EXPAND_SZ., type: str}
        SystemComponent: {description: Usually a DWORD; 1 hides the entry from Programs and Features., type: raw}
        ParentKeyName: {description: Set on updates listed under their parent product., type: str}
        ReleaseType: {description: "For example C(Security Update), C(Update), C(Hotfix).", type: str}
        WindowsInstaller: {description: 1 for entries written by Windows Installer (MSI)., type: raw}
    user_hives:
      description: What happened to each profile of C(ProfileList).
      returned: always
      type: list
      elements: dict
      sample:
        - {sid: S-1-5-21-1004336348-1177238915-682003330-1001, profile_path: "C:\\Users\\tony", state: mounted, message: null}
      contains:
        sid: {description: The profile's SID., type: str}
        profile_path: {description: ProfileImagePath., type: str}
        state: {description: "C(loaded) (hive was already loaded), C(mounted) (loaded for the scan and unloaded), C(skipped).", type: str}
        message: {description: Why a profile was skipped., type: str}
    profiles:
      description:
        - Who uses the host, for named-user licences - one record per profile of
          C(HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList), values as stored.
          The engine decides which are people and when each was last used.
      returned: always
      type: list
      elements: dict
      sample:
        - {sid: S-1-5-21-1004336348-1177238915-682003330-1104, account: "CORP\\jdoe", profile_path: "C:\\Users\\jdoe",
           load_time_high: 31146524, load_time_low: 1577058304, unload_time_high: 31146530, unload_time_low: 3758096384}
      contains:
        sid: {description: The profile's SID., type: str}
        account: {description: "The SID translated to C(DOMAIN\\name); null when Windows cannot (a deleted account, no domain controller).", type: str}
        profile_path: {description: ProfileImagePath., type: str}
        load_time_high: {description: "C(LocalProfileLoadTimeHigh), the high half of the FILETIME the profile was last loaded.", type: int}
        load_time_low: {description: C(LocalProfileLoadTimeLow)., type: int}
        unload_time_high: {description: "C(LocalProfileUnloadTimeHigh), the high half of the FILETIME it was last unloaded.", type: int}
        unload_time_low: {description: C(LocalProfileUnloadTimeLow)., type: int}
    sql_instances:
      description: One record per SQL Server database engine instance, from C(Instance Names\SQL) and the instance's C(Setup) key.
      returned: always
      type: list
      elements: dict
      sample:
        - {view: HKLM64, instance: MSSQLSERVER, instance_id: MSSQL15.MSSQLSERVER, Edition: "Enterprise Edition: Core-based Licensing (64-bit)",
           EditionType: "Enterprise Edition: Core-based Licensing (64-bit)", Version: 15.0.2000.5, PatchLevel: 15.0.4153.1}
    office:
      description:
        - Office registrations (C(Office\<version>\Registration\<GUID>)) that carry a C(ProductID) or C(DigitalProductID).
        - The SKU name table Office keeps in the same place and C(DigitalProductID) itself (an encoded key) are not returned.
      returned: always
      type: list
      elements: dict
      sample:
        - {view: HKLM64, version: "16.0", key: "{90160000-0011-0000-1000-0000000FF1CE}", ProductName: null,
           ProductNameNonQualified: Microsoft Office 2016, ProductNameVersion: null, ConvertToEdition: Microsoft Office Professional 2016,
           ProductID: 00339-10000-00000-AA310, ProductCode: null}
    os:
      description: Values of C(HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion), C(Win32_OperatingSystem) and the host name.
      returned: always
      type: dict
      sample:
        ProductName: Windows Server 2019 Datacenter
        EditionID: ServerDatacenter
        CurrentBuild: "17763"
        DisplayVersion: null
        ReleaseId: "1809"
        UBR: 5458
        InstallationType: Server
        CurrentVersion: "6.3"
        Caption: Microsoft Windows Server 2019 Datacenter
        Version: 10.0.17763
        OSArchitecture: 64-bit
        hostname: SQL01
        domain: corp.example.com
    licensing:
      description: >-
        C(SoftwareLicensingProduct) instances that have a partial product key (Windows and volume-licensed
        Office). Full product keys are never returned.
      returned: always
      type: list
      elements: dict
      sample:
        - {Name: "Office 16, Office16ProPlusVL_KMS_Client edition", Description: "Office 16, VOLUME_KMSCLIENT channel",
           ApplicationID: 0ff1ce15-a989-479d-af46-f275c6370663, LicenseFamily: Office16ProPlusVL_KMS_Client,
           LicenseStatus: 1, ProductKeyChannel: "Volume:GVLK", PartialProductKey: WE9H9}
    appx:
      description: C(Get-AppxPackage -AllUsers), one record per package; enumerations as their names. Empty when I(appx=false).
      returned: always
      type: list
      elements: dict
      sample:
        - Name: Microsoft.WindowsCalculator
          Version: 11.2210.0.0
          Publisher: "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
          Architecture: X64
          PackageFullName: Microsoft.WindowsCalculator_11.2210.0.0_x64__8wekyb3d8bbwe
          InstallLocation: "C:\\Program Files\\WindowsApps\\Microsoft.WindowsCalculator_11.2210.0.0_x64__8wekyb3d8bbwe"
          IsFramework: false
          SignatureKind: Store
    swid_tags:
      description: "C(*.swidtag) files below C(%ProgramData%\\regid.*), with their XML text (null when larger than I(swid_max_bytes))."
      returned: always
      type: list
      elements: dict
      sample:
        - path: "C:\\ProgramData\\regid.1991-06.com.microsoft\\regid.1991-06.com.microsoft_Windows-10-Pro.swidtag"
          size: 1412
          text: "<?xml ..."
          skipped: null
    chocolatey:
      description:
        - "Chocolatey packages: each C(lib\\<id>\\<id>.nuspec) below the Chocolatey folder (C(ChocolateyInstall),
          else C(%ProgramData%\\chocolatey)) with its XML text untouched (null when larger than I(nuspec_max_bytes)
          or unreadable, with the reason in C(skipped)). Empty when Chocolatey is not installed."
        - The engine reads id, version, title, authors, owners, licenseUrl, license, projectUrl and packageSourceUrl.
      returned: always
      type: list
      elements: dict
      sample:
        - path: "C:\\ProgramData\\chocolatey\\lib\\git.install\\git.install.nuspec"
          size: 3676
          text: "<?xml ..."
          skipped: null
    winget:
      description:
        - "C(Get-WinGetPackage) objects, one per installed package: C(Name), C(Id), C(InstalledVersion) and
          C(Source) (C(winget), C(msstore), a private source, or empty for what winget did not install).
          Empty when the C(Microsoft.WinGet.Client) module is absent or I(winget=false)."
      returned: always
      type: list
      elements: dict
      sample:
        - Name: Git
          Id: Git.Git
          InstalledVersion: "2.34.1"
          Source: winget
    winget_export:
      description:
        - "Only where C(winget.exe) is present without the C(Microsoft.WinGet.Client) module: the text of
          C(winget export --include-versions) (package ids and versions per source, no names) in C(text),
          or null with the reason in C(skipped). Null otherwise."
      returned: always
      type: dict
      sample:
        text: "{\"$schema\" : \"https://aka.ms/winget-packages.schema.2.0.json\", ...}"
        skipped: null
    hardware:
      description: Raw CIM records; the engine derives sockets (one C(Win32_Processor) record per socket), cores, threads, VM-ness and the identity.
      returned: always
      type: dict
      contains:
        processors:
          description: One C(Win32_Processor) record per processor socket.
          type: list
          elements: dict
          sample:
            - {DeviceID: CPU0, SocketDesignation: CPU 1, Name: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", Manufacturer: GenuineIntel,
               NumberOfCores: 16, NumberOfLogicalProcessors: 32}
        computer_system:
          description: C(Win32_ComputerSystem).
          type: dict
          sample: {Manufacturer: "VMware, Inc.", Model: "VMware7,1", NumberOfProcessors: 2, NumberOfLogicalProcessors: 4, HypervisorPresent: true,
                   TotalPhysicalMemory: 17179398144, Domain: corp.example.com, PartOfDomain: true, DNSHostName: sql01}
        product:
          description: C(Win32_ComputerSystemProduct); C(UUID) then C(IdentifyingNumber) identify the host.
          type: dict
          sample:
            UUID: 4C4C4544-004A-3510-804B-B4C04F4E3332
            IdentifyingNumber: "VMware-56 4d 2b 6c 3f 1a 9e 77-0b 5e 21 c4 8a 12 66 f0"
            Vendor: "VMware, Inc."
            Name: "VMware7,1"
        enclosure:
          description: C(Win32_SystemEnclosure); its C(SMBIOSAssetTag) tells an Azure VM from another Hyper-V VM.
          type: dict
          sample: {SMBIOSAssetTag: 7783-7084-3265-9085-8269-3286-77}
    hyperv:
      description:
        - A Hyper-V host's VMs, present only where the Hyper-V PowerShell module is installed.
        - The engine links each VM to the guest scanned from inside it by C(BIOSGUID), the SMBIOS UUID the guest
          reports, which is not always the C(VMId).
      returned: when the Hyper-V PowerShell module is installed
      type: dict
      contains:
        host:
          description: C(Get-VMHost).
          type: dict
          sample: {ComputerName: HV01, FullyQualifiedDomainName: corp.example.com, LogicalProcessorCount: 64}
        vms:
          description: C(Get-VM), one record per VM; C(State) as its name.
          type: list
          elements: dict
          sample:
            - {VMId: 8e2c0a3e-5c1b-4f4e-9b8a-1f7d2c3b4a51, Name: SQL01, ProcessorCount: 4, State: Running, Generation: 2}
        settings:
          description: The realized C(Msvm_VirtualSystemSettingData) of each VM (C(VirtualSystemIdentifier) is its C(VMId)).
          type: list
          elements: dict
          sample:
            - {VirtualSystemIdentifier: 8E2C0A3E-5C1B-4F4E-9B8A-1F7D2C3B4A51, BIOSGUID: "{3E0A2C8E-1B5C-4E4F-9B8A-1F7D2C3B4A51}",
               ElementName: SQL01}
        cluster:
          description:
            - C(Get-Cluster)'s name and C(Get-ClusterNode)'s node names, where the FailoverClusters module is
              installed and the host is a cluster node; the engine counts every scanned node of the cluster
              for a VM on any of them (soft partitioning).
          returned: on a failover cluster node
          type: dict
          sample: {Name: HVCLU01, Nodes: [HV01, HV02]}
'''
