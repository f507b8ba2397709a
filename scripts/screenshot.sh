#!/usr/bin/env bash
# Launch the real window under Xvfb with a demo home (a few jobs made with the built-in model
# in history) and save a screenshot:   bash scripts/screenshot.sh [OUT.png] [WAIT_SECONDS]
# Needs Debian/Ubuntu: installs xvfb, ImageMagick and Qt's xcb libraries the first time (root).
set -euo pipefail
out=${1:-docs/screenshot.png}
wait=${2:-8}
need="xvfb imagemagick libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
libxkbcommon-x11-0 libxcb-xinerama0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 \
libxcb-cursor0 fonts-dejavu-core"
missing=$(for p in $need; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  apt-get update -qq && apt-get install -y -qq $missing >/dev/null
fi
home=$(mktemp -d)
trap 'kill ${xvfb:-} ${app:-} 2>/dev/null || true; rm -rf "$home"' EXIT
export IMAGESTUDIO_HOME=$home
for prompt in "a red circle on a blue background" "a yellow star on a purple background" \
    "a white square on a green background"; do
  imagestudio generate "$prompt" --seed 3 >/dev/null 2>&1
done
display=:$((90 + RANDOM % 100))
Xvfb "$display" -screen 0 1600x1000x24 >/dev/null 2>&1 & xvfb=$!
sleep 1
DISPLAY=$display QT_QPA_PLATFORM=xcb imagestudio & app=$!
sleep "$wait"
mkdir -p "$(dirname "$out")"
DISPLAY=$display import -window root "$out"
echo "saved $out"
