; Inno Setup 6 script: ImageStudio's Windows installer, per user (no administrator rights).
; Build the bundle first (python packaging\build.py --torch cpu), which runs this script when
; ISCC.exe is installed; by hand:
;   iscc /DAppVersion=0.1.0 /DVariant=cpu packaging\windows\imagestudio.iss
; Relative paths below are relative to this file's folder.

#define AppName "ImageStudio"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\ImageStudio"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

[Setup]
; AppId identifies the app for upgrades and the uninstaller: never change it.
AppId={{6F3C2A71-8E4B-4D0A-9C55-2B7E1D4F9A30}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=ImageStudio contributors
; Per-user install into %LOCALAPPDATA%\Programs\ImageStudio; the user may still choose
; "install for all users" in the dialog, which then asks for administrator rights.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename={#AppName}-{#AppVersion}-windows-x64-{#Variant}-setup
SetupIconFile=..\icons\imagestudio.ico
UninstallDisplayIcon={app}\ImageStudio.exe
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2
SolidCompression=yes
#if Variant == "cuda"
; A CUDA bundle is several GB, past what one setup.exe can hold: setup.exe plus .bin files.
DiskSpanning=yes
DiskSliceSize=max
#endif
CloseApplications=yes
ChangesEnvironment=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\ImageStudio.exe"; Comment: "Turn text into images, offline"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\ImageStudio.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\ImageStudio.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; The uninstaller removes {app} (everything installed above). Settings, history, pictures and
; models live in the user's own folders (%APPDATA%, %LOCALAPPDATA%, Pictures) and stay.
