#!/usr/bin/env bash
# macOS: sign the .app, put it in a .dmg (with an Applications link to drag it onto), sign and
# notarise the .dmg, staple the ticket. build.py runs it after PyInstaller; by hand:
#   bash packaging/macos/make_dmg.sh [dist/ImageStudio.app] [OUT_DIR] [TORCH_VARIANT]
#
# Each step runs only when its environment variables are set, so an unsigned dmg for testing
# needs nothing:
#   MACOS_SIGN_IDENTITY   "Developer ID Application: NAME (TEAMID)" (a keychain identity):
#                         codesign the .app (hardened runtime, entitlements.plist) and the .dmg
#   MACOS_NOTARY_PROFILE  a notarytool keychain profile (xcrun notarytool store-credentials), or
#   APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD   the same as plain values (CI secrets)
#                         -> xcrun notarytool submit ... --wait, then xcrun stapler staple
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
app=${1:-$root/dist/ImageStudio.app}
out=$(mkdir -p "${2:-$root/dist}" && cd "${2:-$root/dist}" && pwd)
variant=${3:-mps}
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root/imagestudio/__init__.py")
dmg=$out/ImageStudio-$version-macos-$(uname -m)-$variant.dmg
identity=${MACOS_SIGN_IDENTITY:-}

# 1. Sign the app (every library and executable inside, then the bundle).
if [ -n "$identity" ]; then
  codesign --force --deep --options runtime --timestamp \
    --entitlements "$here/entitlements.plist" --sign "$identity" "$app"
  codesign --verify --deep --strict --verbose=2 "$app"
else
  echo "MACOS_SIGN_IDENTITY not set: the app is not signed (users must right-click > Open)."
fi

# 2. The disk image: the app and a link to /Applications.
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
rm -f "$dmg"
hdiutil create -volname "ImageStudio $version" -srcfolder "$staging" -fs HFS+ \
  -format UDZO -imagekey zlib-level=9 -ov "$dmg"

# 3. Sign the dmg, notarise it, staple the ticket (so it opens offline too).
if [ -n "$identity" ]; then
  codesign --force --timestamp --sign "$identity" "$dmg"
fi
if [ -n "${MACOS_NOTARY_PROFILE:-}" ]; then
  notary=(--keychain-profile "$MACOS_NOTARY_PROFILE")
elif [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
  notary=(--apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" --password "$APPLE_APP_PASSWORD")
else
  notary=()
fi
if [ ${#notary[@]} -gt 0 ]; then
  if [ -z "$identity" ]; then
    echo "Notarisation needs a signed app: set MACOS_SIGN_IDENTITY too." >&2
    exit 1
  fi
  xcrun notarytool submit "$dmg" "${notary[@]}" --wait
  xcrun stapler staple "$dmg"
  xcrun stapler validate "$dmg"
else
  echo "No notarisation credentials (MACOS_NOTARY_PROFILE or APPLE_ID/APPLE_TEAM_ID/APPLE_APP_PASSWORD): not notarised."
fi
echo "dmg: $dmg ($(du -h "$dmg" | cut -f1))"
