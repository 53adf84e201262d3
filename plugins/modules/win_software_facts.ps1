#!powershell
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic

# Emits raw registry, CIM and AppX values only. Every rule (what Programs and
# Features shows, deduplication, names, hardware numbers) lives in the fleetsam
# engine (sam_engine/windows.py), where it is tested. Win32_Product is never
# queried: reading it makes Windows Installer check and repair every product.

$spec = @{
    options = @{
        user_hives = @{ type = 'bool'; default = $true }
        appx = @{ type = 'bool'; default = $true }
        swid_max_files = @{ type = 'int'; default = 200 }
        swid_max_bytes = @{ type = 'int'; default = 262144 }
        nuspec_max_files = @{ type = 'int'; default = 2000 }
        nuspec_max_bytes = @{ type = 'int'; default = 65536 }
        winget = @{ type = 'bool'; default = $true }
    }
    supports_check_mode = $true
}
$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)

$UninstallPath = 'SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall'
$UninstallValues = @('DisplayName', 'DisplayVersion', 'Publisher', 'InstallDate', 'InstallLocation',
    'SystemComponent', 'ParentKeyName', 'ReleaseType', 'WindowsInstaller')
$SqlRoot = 'SOFTWARE\Microsoft\Microsoft SQL Server'
$OfficeValues = @('ProductName', 'ProductNameNonQualified', 'ProductNameVersion', 'ConvertToEdition',
    'ProductID', 'ProductCode')
$NoExpand = [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames

Function Get-RawValue {
    # One registry value as stored: strings unexpanded, DWORDs as numbers,
    # multi-strings joined by newlines, binary data left out (null).
    param($Key, [string]$Name)
    if ($null -eq $Key) { return $null }
    $value = $Key.GetValue($Name, $null, $NoExpand)
    if ($value -is [byte[]]) { return $null }
    if ($value -is [string[]]) { return ($value -join "`n") }
    return $value
}

Function Get-Prop {
    # A property of a CIM or AppX object, null when the class lacks it (strict mode safe).
    param($Object, [string]$Name)
    if ($null -eq $Object) { return $null }
    $prop = $Object.PSObject.Properties[$Name]
    if ($null -eq $prop) { return $null }
    $value = $prop.Value
    if ($value -is [Enum]) { return $value.ToString() }
    return $value
}

Function ConvertTo-Record {
    param($Object, [string[]]$Names)
    $record = @{}
    foreach ($name in $Names) { $record[$name] = Get-Prop -Object $Object -Name $name }
    return $record
}

Function Invoke-Section {
    # Runs one collection step; a failure is a warning and the other steps still run.
    param([string]$Name, [scriptblock]$Block)
    try { & $Block }
    catch { $module.Warn("fleetsam: $Name failed: $($_.Exception.Message)") }
}

Function Invoke-Reg {
    # reg.exe's exit code and output; its stderr must not raise under ErrorActionPreference=Stop.
    param([string[]]$Arguments)
    $ErrorActionPreference = 'Continue'
    $output = & reg.exe @Arguments 2>&1 | ForEach-Object { "$_".Trim() }
    return @{ rc = $LASTEXITCODE; output = (@($output) -join ' ') }
}

Function Get-HklmViews {
    # HKLM64 is the native view of a 64-bit Windows, HKLM32 the WOW6432Node view;
    # a 32-bit Windows has only its native 32-bit view, labelled HKLM32.
    $views = [System.Collections.Generic.List[Object]]::new()
    if ([Environment]::Is64BitOperatingSystem) {
        $views.Add(@{ label = 'HKLM64'; view = [Microsoft.Win32.RegistryView]::Registry64 })
    }
    $views.Add(@{ label = 'HKLM32'; view = [Microsoft.Win32.RegistryView]::Registry32 })
    return $views
}

Function Open-Hklm {
    param($View)
    return [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, $View)
}

Function Add-UninstallEntries {
    # One raw record per subkey of an Uninstall key; unreadable subkeys are warnings.
    param($Root, [string]$Path, [string]$Label, $Sid, $Into)
    $parent = $Root.OpenSubKey($Path)
    if ($null -eq $parent) { return }
    try {
        foreach ($name in $parent.GetSubKeyNames()) {
            try {
                $sub = $parent.OpenSubKey($name)
                if ($null -eq $sub) { continue }
                try {
                    $entry = @{ hive = $Label; sid = $Sid; key = $name }
                    foreach ($valueName in $UninstallValues) { $entry[$valueName] = Get-RawValue -Key $sub -Name $valueName }
                    $Into.Add($entry)
                }
                finally { $sub.Dispose() }
            }
            catch { $module.Warn("fleetsam: cannot read $Label\$Path\$($name): $($_.Exception.Message)") }
        }
    }
    finally { $parent.Dispose() }
}

Function Add-UserEntries {
    # One profile: read its hive where it is loaded, else mount NTUSER.DAT for the read.
    param([string]$Sid, $State, $Profiles, $Users, [string[]]$Loaded, [bool]$LoadHives, $Into)
    $profileKey = $Profiles.OpenSubKey($Sid)
    if ($null -ne $profileKey) {
        $State.profile_path = $profileKey.GetValue('ProfileImagePath')
        $profileKey.Dispose()
    }
    if ($Loaded -contains $Sid) {
        Add-UninstallEntries -Root $Users -Path "$Sid\$UninstallPath" -Label 'HKU' -Sid $Sid -Into $Into
        return
    }
    $State.state = 'skipped'
    if (-not $LoadHives) {
        $State.message = 'profile not loaded and user_hives=false'
        return
    }
    $hiveFile = $null
    if ($State.profile_path) { $hiveFile = Join-Path -Path $State.profile_path -ChildPath 'NTUSER.DAT' }
    if (-not $hiveFile -or -not (Test-Path -LiteralPath $hiveFile)) {
        $State.message = 'no NTUSER.DAT'
        return
    }
    $mount = 'fleetsam_' + [guid]::NewGuid().ToString('N')
    $load = Invoke-Reg -Arguments @('load', "HKU\$mount", $hiveFile)
    if ($load.rc -ne 0) {
        $State.message = "reg load failed: $($load.output)"
        $module.Warn("fleetsam: per-user installs of $Sid not read: reg load failed: $($load.output)")
        return
    }
    $State.state = 'mounted'
    try {
        Add-UninstallEntries -Root $Users -Path "$mount\$UninstallPath" -Label 'HKU' -Sid $Sid -Into $Into
    }
    finally {
        # Handles into the hive must be released before it can be unloaded.
        [GC]::Collect()
        [GC]::WaitForPendingFinalizers()
        $unload = Invoke-Reg -Arguments @('unload', "HKU\$mount")
        if ($unload.rc -ne 0) {
            $module.Warn("fleetsam: could not unload the temporary hive HKU\$mount of $($Sid): $($unload.output)")
        }
    }
}

Function Add-UserHiveEntries {
    # Per-user installs: every profile of ProfileList, loaded or not. An unloaded
    # NTUSER.DAT is mounted under a temporary HKU key and always unloaded again.
    param($Into, $Hives, [bool]$LoadHives)
    $hklm = Open-Hklm -View ([Microsoft.Win32.RegistryView]::Default)
    $users = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::Users, [Microsoft.Win32.RegistryView]::Default)
    $profiles = $hklm.OpenSubKey('SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList')
    if ($null -eq $profiles) { return }
    $loaded = $users.GetSubKeyNames()
    foreach ($sid in $profiles.GetSubKeyNames()) {
        if ($sid -notmatch '^S-1-[0-9-]+$') { continue }
        $state = @{ sid = $sid; profile_path = $null; state = 'loaded'; message = $null }
        $Hives.Add($state)
        try { Add-UserEntries -Sid $sid -State $state -Profiles $profiles -Users $users -Loaded $loaded -LoadHives $LoadHives -Into $Into }
        catch {
            $state.state = 'skipped'
            $state.message = $_.Exception.Message
            $module.Warn("fleetsam: per-user installs of $sid not read: $($_.Exception.Message)")
        }
    }
    $profiles.Dispose()
}

Function Add-SqlInstances {
    param($Base, [string]$Label, $Into)
    $names = $Base.OpenSubKey("$SqlRoot\Instance Names\SQL")
    if ($null -eq $names) { return }
    foreach ($instance in $names.GetValueNames()) {
        $id = $names.GetValue($instance)
        $record = @{ view = $Label; instance = $instance; instance_id = $id }
        $setup = $Base.OpenSubKey("$SqlRoot\$id\Setup")
        foreach ($valueName in @('Edition', 'EditionType', 'Version', 'PatchLevel')) {
            $record[$valueName] = Get-RawValue -Key $setup -Name $valueName
        }
        if ($null -ne $setup) { $setup.Dispose() }
        $Into.Add($record)
    }
    $names.Dispose()
}

Function Add-OfficeRegistrations {
    # Only registrations that carry a product ID: Office also keeps a table of
    # SKU names under Registration, one key per SKU it knows, installed or not.
    # DigitalProductID (an encoded product key) is never returned.
    param($Base, [string]$Label, $Into)
    $office = $Base.OpenSubKey('SOFTWARE\Microsoft\Office')
    if ($null -eq $office) { return }
    foreach ($version in $office.GetSubKeyNames()) {
        if ($version -notmatch '^\d+\.\d+$') { continue }
        $registration = $office.OpenSubKey("$version\Registration")
        if ($null -eq $registration) { continue }
        foreach ($guid in $registration.GetSubKeyNames()) {
            $key = $registration.OpenSubKey($guid)
            if ($null -eq $key) { continue }
            $names = $key.GetValueNames()
            if (($names -contains 'ProductID') -or ($names -contains 'DigitalProductID')) {
                $record = @{ view = $Label; version = $version; key = $guid }
                foreach ($valueName in $OfficeValues) { $record[$valueName] = Get-RawValue -Key $key -Name $valueName }
                $Into.Add($record)
            }
            $key.Dispose()
        }
        $registration.Dispose()
    }
    $office.Dispose()
}

$win = @{
    uninstall = [System.Collections.Generic.List[Object]]::new()
    user_hives = [System.Collections.Generic.List[Object]]::new()
    sql_instances = [System.Collections.Generic.List[Object]]::new()
    office = [System.Collections.Generic.List[Object]]::new()
    os = @{}
    licensing = [System.Collections.Generic.List[Object]]::new()
    appx = [System.Collections.Generic.List[Object]]::new()
    swid_tags = [System.Collections.Generic.List[Object]]::new()
    chocolatey = [System.Collections.Generic.List[Object]]::new()
    winget = [System.Collections.Generic.List[Object]]::new()
    winget_export = $null
    profiles = [System.Collections.Generic.List[Object]]::new()
    hardware = @{ processors = [System.Collections.Generic.List[Object]]::new(); computer_system = @{}; product = @{}; enclosure = @{} }
}

Invoke-Section -Name 'machine-wide uninstall keys' -Block {
    foreach ($view in (Get-HklmViews)) {
        $base = Open-Hklm -View $view.view
        try {
            Add-UninstallEntries -Root $base -Path $UninstallPath -Label $view.label -Sid $null -Into $win.uninstall
            Add-SqlInstances -Base $base -Label $view.label -Into $win.sql_instances
            Add-OfficeRegistrations -Base $base -Label $view.label -Into $win.office
        }
        finally { $base.Dispose() }
    }
}

Invoke-Section -Name 'per-user uninstall keys' -Block {
    Add-UserHiveEntries -Into $win.uninstall -Hives $win.user_hives -LoadHives $module.Params.user_hives
}

Invoke-Section -Name 'user profiles' -Block {
    # Who uses the machine: every ProfileList profile with its load/unload times as
    # stored (FILETIME halves) and its SID translated to DOMAIN\name where Windows can.
    $base = Open-Hklm -View ([Microsoft.Win32.RegistryView]::Default)
    $list = $base.OpenSubKey('SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList')
    if ($null -ne $list) {
        foreach ($sid in $list.GetSubKeyNames()) {
            if ($sid -notmatch '^S-1-[0-9-]+$') { continue }
            $key = $list.OpenSubKey($sid)
            $record = @{ sid = $sid; account = $null }
            foreach ($pair in @(@('profile_path', 'ProfileImagePath'), @('load_time_high', 'LocalProfileLoadTimeHigh'),
                    @('load_time_low', 'LocalProfileLoadTimeLow'), @('unload_time_high', 'LocalProfileUnloadTimeHigh'),
                    @('unload_time_low', 'LocalProfileUnloadTimeLow'))) {
                $record[$pair[0]] = Get-RawValue -Key $key -Name $pair[1]
            }
            if ($null -ne $key) { $key.Dispose() }
            try {
                $identifier = [System.Security.Principal.SecurityIdentifier]::new($sid)
                $record.account = $identifier.Translate([System.Security.Principal.NTAccount]).Value
            }
            catch { $record.account = $null }  # a deleted account or an unreachable domain: the engine uses the folder
            $win.profiles.Add($record)
        }
        $list.Dispose()
    }
    $base.Dispose()
}

Invoke-Section -Name 'Windows edition' -Block {
    $base = Open-Hklm -View ([Microsoft.Win32.RegistryView]::Default)
    $current = $base.OpenSubKey('SOFTWARE\Microsoft\Windows NT\CurrentVersion')
    foreach ($valueName in @('ProductName', 'EditionID', 'CurrentBuild', 'DisplayVersion', 'ReleaseId', 'UBR', 'InstallationType', 'CurrentVersion')) {
        $win.os[$valueName] = Get-RawValue -Key $current -Name $valueName
    }
    if ($null -ne $current) { $current.Dispose() }
    $base.Dispose()
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    foreach ($name in @('Caption', 'Version', 'OSArchitecture')) { $win.os[$name] = Get-Prop -Object $os -Name $name }
    $win.os.hostname = [System.Net.Dns]::GetHostName()
    $win.os.domain = [System.Net.NetworkInformation.IPGlobalProperties]::GetIPGlobalProperties().DomainName
}

Invoke-Section -Name 'SoftwareLicensingProduct' -Block {
    $fields = @('Name', 'Description', 'ApplicationID', 'LicenseFamily', 'LicenseStatus', 'ProductKeyChannel', 'PartialProductKey')
    foreach ($product in (Get-CimInstance -ClassName SoftwareLicensingProduct -Filter 'PartialProductKey IS NOT NULL')) {
        $win.licensing.Add((ConvertTo-Record -Object $product -Names $fields))
    }
}

if ($module.Params.appx) {
    Invoke-Section -Name 'Get-AppxPackage -AllUsers' -Block {
        $fields = @('Name', 'Version', 'Publisher', 'Architecture', 'PackageFullName', 'InstallLocation', 'IsFramework', 'SignatureKind')
        foreach ($package in (Get-AppxPackage -AllUsers -ErrorAction Stop)) {
            $win.appx.Add((ConvertTo-Record -Object $package -Names $fields))
        }
    }
}

Invoke-Section -Name 'SWID tags' -Block {
    $limit = $module.Params.swid_max_files
    $found = 0
    $roots = Get-ChildItem -LiteralPath $env:ProgramData -Directory -Filter 'regid.*' -ErrorAction SilentlyContinue
    foreach ($root in $roots) {
        foreach ($file in (Get-ChildItem -LiteralPath $root.FullName -Recurse -File -Filter '*.swidtag' -ErrorAction SilentlyContinue)) {
            $found += 1
            if ($found -gt $limit) { continue }
            $tag = @{ path = $file.FullName; size = $file.Length; text = $null; skipped = $null }
            if ($file.Length -gt $module.Params.swid_max_bytes) { $tag.skipped = 'larger than swid_max_bytes' }
            else {
                try { $tag.text = [System.IO.File]::ReadAllText($file.FullName) }
                catch { $tag.skipped = "unreadable: $($_.Exception.Message)" }
            }
            $win.swid_tags.Add($tag)
        }
    }
    if ($found -gt $limit) { $module.Warn("fleetsam: $found SWID tags found, only the first $limit returned") }
}

Invoke-Section -Name 'Chocolatey packages' -Block {
    # Each installed package's own metadata, lib\<id>\<id>.nuspec, as text: the engine reads it.
    $root = [Environment]::GetEnvironmentVariable('ChocolateyInstall', 'Machine')
    if (-not $root) { $root = Join-Path -Path $env:ProgramData -ChildPath 'chocolatey' }
    $lib = Join-Path -Path $root -ChildPath 'lib'
    if (Test-Path -LiteralPath $lib -PathType Container) {
        $limit = $module.Params.nuspec_max_files
        $found = 0
        foreach ($folder in (Get-ChildItem -LiteralPath $lib -Directory -ErrorAction SilentlyContinue)) {
            $path = Join-Path -Path $folder.FullName -ChildPath "$($folder.Name).nuspec"
            if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { continue }
            $found += 1
            if ($found -gt $limit) { continue }
            $file = Get-Item -LiteralPath $path
            $nuspec = @{ path = $file.FullName; size = $file.Length; text = $null; skipped = $null }
            if ($file.Length -gt $module.Params.nuspec_max_bytes) { $nuspec.skipped = 'larger than nuspec_max_bytes' }
            else {
                try { $nuspec.text = [System.IO.File]::ReadAllText($file.FullName) }
                catch { $nuspec.skipped = "unreadable: $($_.Exception.Message)" }
            }
            $win.chocolatey.Add($nuspec)
        }
        if ($found -gt $limit) { $module.Warn("fleetsam: $found Chocolatey packages found, only the first $limit returned") }
    }
}

if ($module.Params.winget) {
    Invoke-Section -Name 'winget packages' -Block {
        # What winget lists as installed, as it gives it: the engine ties each package to its program.
        if (Get-Command -Name Get-WinGetPackage -ErrorAction SilentlyContinue) {
            foreach ($pkg in (Get-WinGetPackage -ErrorAction Stop)) {
                $win.winget.Add(@{ Name = $pkg.Name; Id = $pkg.Id; InstalledVersion = $pkg.InstalledVersion; Source = $pkg.Source })
            }
            return
        }
        $exe = Get-Command -Name 'winget.exe' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
        if ($null -eq $exe) { return }
        $file = [System.IO.Path]::GetTempFileName()
        $ErrorActionPreference = 'Continue'  # winget's stderr notes must not raise (this block's scope only)
        try {
            $null = & $exe.Source export --output $file --include-versions --accept-source-agreements --disable-interactivity 2>&1
            $export = @{ text = $null; skipped = $null }
            if ((Get-Item -LiteralPath $file).Length -gt 0) { $export.text = [System.IO.File]::ReadAllText($file) }
            else { $export.skipped = "winget export wrote nothing (exit code $LASTEXITCODE)" }
            $win.winget_export = $export
        }
        finally { Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue }
    }
}

Invoke-Section -Name 'hardware' -Block {
    $fields = @('DeviceID', 'SocketDesignation', 'Name', 'Manufacturer', 'NumberOfCores', 'NumberOfLogicalProcessors')
    foreach ($cpu in (Get-CimInstance -ClassName Win32_Processor)) {
        $win.hardware.processors.Add((ConvertTo-Record -Object $cpu -Names $fields))
    }
    $system = Get-CimInstance -ClassName Win32_ComputerSystem
    $fields = @('Manufacturer', 'Model', 'NumberOfProcessors', 'NumberOfLogicalProcessors', 'HypervisorPresent', 'TotalPhysicalMemory', 'Domain', 'PartOfDomain', 'DNSHostName')
    $win.hardware.computer_system = ConvertTo-Record -Object $system -Names $fields
    $product = Get-CimInstance -ClassName Win32_ComputerSystemProduct | Select-Object -First 1
    $win.hardware.product = ConvertTo-Record -Object $product -Names @('UUID', 'IdentifyingNumber', 'Vendor', 'Name')
    # Azure's VMs are Hyper-V VMs told apart only by this asset tag
    $enclosure = Get-CimInstance -ClassName Win32_SystemEnclosure | Select-Object -First 1
    $win.hardware.enclosure = ConvertTo-Record -Object $enclosure -Names @('SMBIOSAssetTag')
}

# A Hyper-V host's VMs, only where the Hyper-V PowerShell module is installed. The guest's SMBIOS UUID
# is the VM's BIOSGUID (Msvm_VirtualSystemSettingData), which is not always its VMId: both are returned.
if (Get-Module -ListAvailable -Name Hyper-V) {
    Invoke-Section -Name 'Hyper-V' -Block {
        $vmHost = Get-VMHost -ErrorAction Stop
        $hyperv = @{
            host = ConvertTo-Record -Object $vmHost -Names @('ComputerName', 'FullyQualifiedDomainName', 'LogicalProcessorCount')
            vms = [System.Collections.Generic.List[Object]]::new()
            settings = [System.Collections.Generic.List[Object]]::new()
        }
        foreach ($vm in (Get-VM -ErrorAction Stop)) {
            $record = ConvertTo-Record -Object $vm -Names @('Name', 'ProcessorCount', 'State', 'Generation')
            $record.VMId = "$($vm.VMId)"
            $hyperv.vms.Add($record)
        }
        $filter = "VirtualSystemType = 'Microsoft:Hyper-V:System:Realized'"
        foreach ($setting in (Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName Msvm_VirtualSystemSettingData -Filter $filter)) {
            $hyperv.settings.Add((ConvertTo-Record -Object $setting -Names @('VirtualSystemIdentifier', 'BIOSGUID', 'ElementName')))
        }
        $win.hyperv = $hyperv
    }
}

# The failover cluster a Hyper-V host is a node of (where the FailoverClusters module is installed): the
# hosts its VMs can move between. Its own step, so that a cluster that cannot be read keeps the VMs.
if ($win.ContainsKey('hyperv') -and (Get-Module -ListAvailable -Name FailoverClusters)) {
    Invoke-Section -Name 'failover cluster' -Block {
        $cluster = Get-Cluster -ErrorAction SilentlyContinue  # none: a standalone host
        if ($null -ne $cluster) {
            $win.hyperv.cluster = @{
                Name = "$($cluster.Name)"
                Nodes = @(Get-ClusterNode -ErrorAction Stop | ForEach-Object { "$($_.Name)" })
            }
        }
    }
}

$module.Result.windows = $win
$module.ExitJson()
