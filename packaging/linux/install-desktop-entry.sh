#!/usr/bin/env bash
# Add ImageStudio to the desktop's application menu (for the current user), from wherever this
# unpacked folder lies; run it again after moving the folder.
#   ./install-desktop-entry.sh             menu entry, icon, and `imagestudio` in ~/.local/bin
#   ./install-desktop-entry.sh --uninstall remove them again (your pictures and history stay)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
apps=$data/applications
icons=$data/icons/hicolor/512x512/apps
bin=$HOME/.local/bin

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$apps/imagestudio.desktop" "$icons/imagestudio.png"
  if [ -L "$bin/imagestudio" ]; then rm -f "$bin/imagestudio"; fi
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" || true
  echo "ImageStudio's menu entry is removed; delete $here to remove the app itself."
  exit 0
fi

case $here in
  *[\"\`\$\\]*) echo "Please move the folder to a path without \", \`, \$ or \\ first." >&2; exit 1 ;;
esac
mkdir -p "$apps" "$icons" "$bin"
cp "$here/imagestudio.png" "$icons/imagestudio.png"
# Exec needs the absolute path, quoted (Desktop Entry spec) in case it has spaces.
while IFS= read -r line; do
  case $line in
    Exec=*) printf 'Exec="%s/imagestudio"\n' "$here" ;;
    TryExec=*) printf 'TryExec=%s/imagestudio\n' "$here" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$here/imagestudio.desktop" > "$apps/imagestudio.desktop"
chmod 644 "$apps/imagestudio.desktop"
ln -sfn "$here/imagestudio" "$bin/imagestudio"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q "$data/icons/hicolor" \
  2>/dev/null || true
echo "ImageStudio is in the application menu; \`imagestudio\` runs it from a terminal"
echo "(if ~/.local/bin is on your PATH)."
