<#
.SYNOPSIS
  Points the current user's .wslconfig at a kernel and its modules disk, and puts back what was
  there before. The wsl-kernel MSI runs it: -Set after installing its files, -Restore before
  removing them (uninstall, and the removal of the older version during an upgrade).

.DESCRIPTION
  Why a script: the MSI is built with msitools' wixl, which has no IniFile table, and Windows
  Installer's IniFile actions could not do this job anyway: they write "key=value" with single
  backslashes (WSL reads a backslash as an escape, so a path needs each one doubled), and on
  uninstall they delete the key instead of putting back the value it replaced.

  The file is edited the way WSL reads it (src/shared/configfile in microsoft/WSL):
    - sections "[name]" and keys "name = value" ignore case; the first "kernel" and
      "kernelModules" in the first [wsl2] section count, later ones WSL ignores, so they are
      removed; a missing key is added after the section's last line, a missing section at the end;
    - every other line is kept byte for byte, with its own line ending;
    - the file keeps its encoding: UTF-8 (with or without a BOM) or UTF-16 with a BOM, the forms
      WSL reads; anything else is refused and left alone.
  The previous lines of both keys (or their absence) are kept in
  %UserProfile%\.wslconfig.wsl-kernel-msi.json. -Restore puts them back only where the values are
  still the ones -Set wrote: a value the user changed since is theirs, and stays.
  Every write goes to a temporary file first, which then replaces .wslconfig, so a failure never
  leaves half a file.

  Runs on Windows PowerShell 5.1 (every Windows 10 and 11) and PowerShell 7.

.EXAMPLE
  powershell -NoProfile -ExecutionPolicy Bypass -File wslconfig.ps1 -Set -Kernel C:\wsl-kernel\6.12.118.2\kernel -Modules C:\wsl-kernel\6.12.118.2\modules.vhdx
  powershell -NoProfile -ExecutionPolicy Bypass -File wslconfig.ps1 -Restore -Kernel C:\wsl-kernel\6.12.118.2\kernel -Modules C:\wsl-kernel\6.12.118.2\modules.vhdx
#>
[CmdletBinding()]
param(
  [switch]$Set,
  [switch]$Restore,
  [Parameter(Mandatory = $true)][string]$Kernel,
  [string]$Modules = '',
  [string]$Config = (Join-Path $env:USERPROFILE '.wslconfig')
)
$ErrorActionPreference = 'Stop'
$State = "$Config.wsl-kernel-msi.json"

# A path as WSL reads it: each backslash doubled. WSL stores each character of the value as one
# byte (non-ASCII breaks), ends a value at '#' and takes '"' as quoting, so those are refused.
function ConvertTo-WslValue([string]$Path) {
  if ($Path -match '[^\x20-\x7E]' -or $Path -match '[#"]') {
    throw "wslconfig.ps1: WSL cannot read the path '$Path' from .wslconfig (it must be ASCII, without # or `")"
  }
  return $Path.Replace('\', '\\')
}

# Reads the file as text with its encoding; a missing file is empty UTF-8 without a BOM.
function Read-Config([string]$File) {
  $result = @{ Text = ''; Encoding = (New-Object System.Text.UTF8Encoding($false)) }
  if (-not (Test-Path -LiteralPath $File)) { return $result }
  $bytes = [System.IO.File]::ReadAllBytes($File)
  if ($bytes.Length -ge 3 -and $bytes[0] -eq 0xEF -and $bytes[1] -eq 0xBB -and $bytes[2] -eq 0xBF) {
    $result.Encoding = New-Object System.Text.UTF8Encoding($true, $true); $skip = 3
  } elseif ($bytes.Length -ge 2 -and $bytes[0] -eq 0xFF -and $bytes[1] -eq 0xFE) {
    $result.Encoding = New-Object System.Text.UnicodeEncoding($false, $true, $true); $skip = 2
  } elseif ($bytes.Length -ge 2 -and $bytes[0] -eq 0xFE -and $bytes[1] -eq 0xFF) {
    $result.Encoding = New-Object System.Text.UnicodeEncoding($true, $true, $true); $skip = 2
  } else {
    $result.Encoding = New-Object System.Text.UTF8Encoding($false, $true); $skip = 0
  }
  try {
    $result.Text = $result.Encoding.GetString($bytes, $skip, $bytes.Length - $skip)
  } catch {
    throw "wslconfig.ps1: $File is neither UTF-8 nor UTF-16 with a byte order mark, the forms WSL reads; it was left as it is"
  }
  return $result
}

# Writes text in encoding (with its BOM, if it has one) beside File, then puts it in File's place.
function Write-Config([string]$File, [string]$Text, $Encoding) {
  $tmp = "$File.wsl-kernel-tmp"
  $body = $Encoding.GetBytes($Text)
  $bom = $Encoding.GetPreamble()
  $stream = [System.IO.File]::Open($tmp, 'Create', 'Write', 'None')
  try {
    $stream.Write($bom, 0, $bom.Length)
    $stream.Write($body, 0, $body.Length)
    $stream.Flush($true)
  } finally { $stream.Dispose() }
  if (Test-Path -LiteralPath $File) {
    [System.IO.File]::Replace($tmp, $File, [NullString]::Value)
  } else {
    [System.IO.File]::Move($tmp, $File)
  }
}

# The file's lines, each with its own ending.
function Split-Lines([string]$Text) {
  if ($Text -eq '') { return ,@() }
  return ,([regex]::Split($Text, '(?<=\n)') | Where-Object { $_ -ne '' })
}

# Indexes of the lines that give Key a value in the first [wsl2] section, in order.
function Find-Key($Lines, [string]$Key) {
  $found = @(); $section = ''; $seen = $false
  for ($i = 0; $i -lt $Lines.Count; $i++) {
    $line = $Lines[$i].TrimEnd("`r", "`n")
    if ($line -match '^\s*\[([A-Za-z][A-Za-z0-9]*)\]\s*(#.*)?$') {
      if ($section -eq 'wsl2') { $seen = $true }
      $section = $Matches[1].ToLowerInvariant(); continue
    }
    if ($section -eq 'wsl2' -and -not $seen -and $line -match '^\s*([A-Za-z][A-Za-z0-9]*)\s*=' -and $Matches[1] -ieq $Key) {
      if ($line.EndsWith('\')) { throw "wslconfig.ps1: ${Config}: the $Key value continues on the next line; edit it by hand" }
      $found += $i
    }
  }
  return ,$found
}

# Where a key added to [wsl2] goes: after the section's last non-blank line; -1: no section.
function Find-SectionEnd($Lines) {
  $end = -1; $section = ''
  for ($i = 0; $i -lt $Lines.Count; $i++) {
    $line = $Lines[$i].TrimEnd("`r", "`n")
    if ($line -match '^\s*\[([A-Za-z][A-Za-z0-9]*)\]\s*(#.*)?$') {
      if ($section -eq 'wsl2') { return $end }
      $section = $Matches[1].ToLowerInvariant()
      if ($section -eq 'wsl2') { $end = $i }
      continue
    }
    if ($section -eq 'wsl2' -and $line.Trim() -ne '') { $end = $i }
  }
  return $end
}

# Puts NewLines where Key's first line is (removing the others), or adds them to [wsl2].
function Set-KeyLines([System.Collections.ArrayList]$Lines, [string]$Key, [string[]]$NewLines, [string]$Eol) {
  $at = Find-Key $Lines $Key
  for ($j = $at.Count - 1; $j -ge 1; $j--) { $Lines.RemoveAt($at[$j]) }
  if ($at.Count -gt 0) {
    $Lines.RemoveAt($at[0]); $Lines.InsertRange($at[0], [string[]]$NewLines); return
  }
  if ($NewLines.Count -eq 0) { return }
  $end = Find-SectionEnd $Lines
  if ($Lines.Count -gt 0 -and -not $Lines[$Lines.Count - 1].EndsWith("`n")) { $Lines[$Lines.Count - 1] += $Eol }
  if ($end -lt 0) { [void]$Lines.Add("[wsl2]$Eol"); $end = $Lines.Count - 1 }
  $Lines.InsertRange($end + 1, [string[]]$NewLines)
}

$file = Read-Config $Config
$lines = New-Object System.Collections.ArrayList
foreach ($l in (Split-Lines $file.Text)) { [void]$lines.Add($l) }
$eol = if ($file.Text.Contains("`r`n") -or $file.Text -eq '') { "`r`n" } else { "`n" }
$want = [ordered]@{ kernel = (ConvertTo-WslValue $Kernel) }
if ($Modules -ne '') { $want.kernelModules = ConvertTo-WslValue $Modules }

if ($Set) {
  $saved = [ordered]@{}
  foreach ($key in @('kernel', 'kernelModules')) {
    $saved[$key] = @((Find-Key $lines $key) | ForEach-Object { $lines[$_] })
    $new = @(); if ($want.Contains($key)) { $new = @("$key=$($want[$key])$eol") }
    Set-KeyLines $lines $key $new $eol
  }
  if (-not (Test-Path -LiteralPath $State)) {  # a repair keeps the first install's record
    $json = ConvertTo-Json @{ previous = $saved; set = $want } -Depth 4
    Write-Config $State $json (New-Object System.Text.UTF8Encoding($false))
  }
  Write-Config $Config (-join $lines) $file.Encoding
  exit 0
}
if ($Restore) {
  if (-not (Test-Path -LiteralPath $State)) { exit 0 }  # nothing recorded for this user
  $record = Get-Content -LiteralPath $State -Raw | ConvertFrom-Json
  foreach ($key in @('kernel', 'kernelModules')) {
    $at = Find-Key $lines $key
    $current = if ($at.Count -gt 0) { ($lines[$at[0]] -split '=', 2)[1].Trim() } else { $null }
    $ours = $record.set.$key
    if ($current -ne $ours) {
      Write-Warning "wslconfig.ps1: $Config's $key is no longer the one the installer set; it stays as it is"
      continue
    }
    Set-KeyLines $lines $key ([string[]]@($record.previous.$key)) $eol
  }
  Write-Config $Config (-join $lines) $file.Encoding
  Remove-Item -LiteralPath $State
  exit 0
}
throw 'wslconfig.ps1: say -Set or -Restore'
