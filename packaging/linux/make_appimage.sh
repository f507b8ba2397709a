#!/usr/bin/env bash
# AppImage recipe: wrap the PyInstaller folder into an AppDir, then into one AppImage file.
#   bash packaging/linux/make_appimage.sh [BUNDLE_DIR] [OUT_DIR] [TORCH_VARIANT]
# (build.py --appimage runs it after the build.) The AppDir is always made; the last step needs
# appimagetool, which comes from the AppImage project's releases (not PyPI or Debian): put it on
# PATH as `appimagetool`, or set APPIMAGETOOL=/path/to/appimagetool-x86_64.AppImage.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bundle=$(cd "${1:-$root/dist/ImageStudio}" && pwd)
out=$(mkdir -p "${2:-$root/dist}" && cd "${2:-$root/dist}" && pwd)
variant=${3:-cpu}
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root/imagestudio/__init__.py")
arch=$(uname -m)
appdir=$root/build/ImageStudio.AppDir

rm -rf "$appdir"
mkdir -p "$appdir/usr/lib" "$appdir/usr/share/applications" \
  "$appdir/usr/share/icons/hicolor/512x512/apps"
cp -a "$bundle" "$appdir/usr/lib/imagestudio"
# The tarball's helpers make no sense inside a read-only AppImage.
rm -f "$appdir/usr/lib/imagestudio/install-desktop-entry.sh"
cp "$root/resources/icons/imagestudio.png" "$appdir/imagestudio.png"
cp "$root/resources/icons/imagestudio.png" "$appdir/usr/share/icons/hicolor/512x512/apps/"
ln -s imagestudio.png "$appdir/.DirIcon"
sed -e '/^TryExec=/d' "$root/packaging/linux/imagestudio.desktop" > "$appdir/imagestudio.desktop"
cp "$appdir/imagestudio.desktop" "$appdir/usr/share/applications/"
cat > "$appdir/AppRun" <<'RUN'
#!/bin/sh
# AppImage entry point: the window with no arguments, the command line with them.
here=$(dirname "$(readlink -f "$0")")
exec "$here/usr/lib/imagestudio/imagestudio" "$@"
RUN
chmod 755 "$appdir/AppRun"
echo "AppDir ready: $appdir"

tool=${APPIMAGETOOL:-$(command -v appimagetool || true)}
target=$out/ImageStudio-$version-$arch-$variant.AppImage
if [ -z "$tool" ]; then
  echo "appimagetool not found: the AppImage itself is not made. With appimagetool, run:"
  echo "  ARCH=$arch appimagetool --comp zstd '$appdir' '$target'"
  exit 0
fi
ARCH=$arch "$tool" --comp zstd "$appdir" "$target"
echo "AppImage: $target ($(du -h "$target" | cut -f1))"
