#!/usr/bin/env bash
# Prove the Linux bundle end to end, the way a user gets it:
#   bash packaging/prove_linux.sh                 build (python packaging/build.py --torch cpu), then prove
#   bash packaging/prove_linux.sh --skip-build    prove the tarball already in dist/
#   bash packaging/prove_linux.sh --measure-trim  also build once without the exclusions and
#                                                 compare sizes (another full build)
# The tarball is unpacked into a temporary folder made read-only (chmod -R a-w) and run from
# there with a clean environment (env -i: no PYTHONPATH, no HF_HUB_OFFLINE), as user nobody when
# run as root (so the read-only bits really bind) and without any network (unshare -n) where
# that is allowed. It checks: the contents (resources in, dev tools out), `info`, the window
# (offscreen, and under Xvfb when installed: shows, stays up, closes with exit 0, ends on
# SIGTERM), `generate` with the starter model (PNG 64x64 with `parameters` and `imagestudio`
# chunks), `stylize` in fast and quality mode, a LoRA, a pickle conversion, the history, a first launch without
# IMAGESTUDIO_HOME (files land in the XDG folders), and that nothing inside the bundle changed.
# Takes 15-30 minutes on 2 cores (mostly the build). Log: build/prove_linux.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${PYTHON:-python}
skip_build=0
measure_trim=0
for arg in "$@"; do
  case $arg in
    --skip-build) skip_build=1 ;;
    --measure-trim) measure_trim=1 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
mkdir -p build
exec > >(tee build/prove_linux.log) 2>&1

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
drop_caches() {
  # A true cold start: the bundle's files leave the page cache (root only; else it stays warm).
  sync
  if { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null; then cache="cold"; else cache="warm cache"; fi
}

if [ "$skip_build" = 0 ]; then
  step "build"
  t=$(now)
  "$python" packaging/build.py --torch cpu
  build_s=$(since "$t")
fi
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' imagestudio/__init__.py)
tarball=dist/ImageStudio-$version-linux-$(uname -m)-cpu.tar.gz
[ -f "$tarball" ] || fail "$tarball is missing (run without --skip-build)"

work=$(mktemp -d /tmp/imagestudio-proof.XXXXXX)
cleanup() {
  kill "${xvfb:-}" 2>/dev/null || true
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
mkdir -p "$work/opt" "$work/home" "$work/home2" "$work/x"
step "unpack $tarball"
tar -C "$work/opt" -xzf "$tarball"
app=$work/opt/ImageStudio
exe=$app/imagestudio
[ -x "$exe" ] || fail "no executable $exe"

step "contents"
res=$app/_internal/imagestudio/resources
for f in models/starter/model_index.json models/starter/unet/diffusion_pytorch_model.safetensors \
    style/magenta/arbitrary_predict.onnx style/magenta/arbitrary_transform.onnx \
    style/vgg16_hed.safetensors tokenizers/clip/vocab.json tokenizers/clip/merges.txt \
    upscalers/realesrgan-x4plus.safetensors upscalers/realesr-animevideov3-x4.safetensors \
    icons/imagestudio.png; do
  [ -f "$res/$f" ] || fail "resource $f is missing"
done
ok "resources: starter model, style networks (ONNX, VGG), CLIP tokenizer, icon"
ls "$app"/_internal/onnxruntime/capi/onnxruntime_pybind11_state*.so >/dev/null \
  || fail "onnxruntime's native library is missing"
ok "onnxruntime native library: $(cd "$app/_internal" && ls onnxruntime/capi/*.so | tr '\n' ' ')"
for plugin in platforms/libqoffscreen.so platforms/libqxcb.so platforms/libqwayland.so; do
  [ -f "$app/_internal/PySide6/Qt/plugins/$plugin" ] && ok "Qt plugin $plugin" \
    || echo "note: Qt plugin $plugin not bundled"
done
[ -f "$app/imagestudio.desktop" ] && [ -f "$app/imagestudio.png" ] \
  && [ -x "$app/install-desktop-entry.sh" ] || fail ".desktop, icon or installer script missing"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$app/imagestudio.desktop" && ok ".desktop file is valid"
fi
unwanted=$(find "$app" \( -path '*/imagestudio/dev' -o -name '_pytest' -o -name 'pytest' \
  -o -name 'pytestqt' -o -name 'ruff' -o -name 'mypy' -o -name 'h5py' -o -name 'tensorboard' \
  -o -path "$app/_internal/scipy" -o -path '*/torch/testing/_internal/opinfo' -o -path '*/torch/bin/test_*' \
  -o -path '*/torch/include' -o -name 'libQt6WebEngine*' -o -name 'libQt6Qml*' \
  -o -name 'libQt6Quick*' -o -name 'libQt63D*' -o -name '*.dist-info' -name 'pytest*' \) -print)
[ -z "$unwanted" ] || fail "dev tools or unneeded parts inside the bundle: $unwanted"
missing=""
while IFS= read -r -d '' lib; do
  for need in $(readelf -d "$lib" 2>/dev/null | sed -n 's/.*Shared library: \[\(libQt6[^]]*\)\]/\1/p'); do
    [ -e "$app/_internal/$need" ] || [ -e "$app/_internal/PySide6/Qt/lib/$need" ] \
      || missing="$missing $lib->$need"
  done
done < <(find "$app/_internal" -name '*.so*' -type f -print0)
[ -z "$missing" ] || fail "Qt libraries needed but not bundled:$missing"
ok "every Qt library that a bundled library or plugin needs is bundled"
modules=$("$python" -m PyInstaller.utils.cliutils.archive_viewer -r -b "$exe" 2>/dev/null || true)
[ -n "$modules" ] || fail "cannot list the bundle's Python modules"
for bad in imagestudio.dev pytest _pytest pytestqt ruff mypy h5py tensorboard scipy \
    IPython torch.testing._internal.opinfo PySide6.QtWebEngineCore PySide6.QtQml; do
  if grep -qE "^\s*${bad//./\\.}(\.|$)" <<<"$modules"; then fail "module $bad is in the bundle"; fi
done
grep -qE '^\s*imagestudio\.core\.generation\.engine$' <<<"$modules" || fail "imagestudio.core.generation.engine is missing"
ok "no training code, test, lint or notebook tools, no Qt WebEngine/QML/3D inside"

# Run the bundle as a stranger would: read-only, clean environment, no network.
chmod -R a-w "$app"
find "$app" -printf '%P %s %T@ %m\n' | sort > "$work/before.txt"
wrap=()
if unshare -n true 2>/dev/null; then
  wrap+=(unshare -n)
  network="none (unshare -n)"
else
  network="present (unshare not allowed here); the app sets HF_HUB_OFFLINE itself"
fi
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  wrap+=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chown 65534:65534 "$work/home" "$work/home2" "$work/x"
  user="nobody"
else
  user=$(id -un)
fi
run() { "${wrap[@]}" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$work/home" "$@"; }
echo "running as $user; network: $network; bundle read-only"
export_home="IMAGESTUDIO_HOME=$work/home/studio"

step "info (first run, then again)"
drop_caches
t=$(now); run "$export_home" "$exe" info > "$work/info.txt"; info_cold=$(since "$t")
t=$(now); run "$export_home" "$exe" info > /dev/null; info_warm=$(since "$t")
cat "$work/info.txt"
grep -qF "starter model: installed ($res/models/starter)" "$work/info.txt" \
  || fail "info does not find the starter model inside the bundle"
grep -q "^torch " "$work/info.txt" || fail "info finds no model stack (torch, diffusers)"
ok "info: ${info_cold} s ($cache), ${info_warm} s second run"

step "window (offscreen): shows, closes cleanly"
out=$(run "$export_home" QT_QPA_PLATFORM=offscreen IMAGESTUDIO_EXIT_AFTER_SHOW=1 \
  timeout 120 "$exe" 2>&1) || fail "the window did not open and close cleanly: $out"
echo "$out" | tail -3
shown=$(grep -o 'window shown after [0-9.]* s' <<<"$out" || true)
[ -n "$shown" ] || fail "the window did not report being shown"
ok "$shown, exit 0 after closing the window"
# exec all the way down (unshare, setpriv and env exec too), so $! is the app itself.
(exec "${wrap[@]}" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$work/home" "$export_home" \
  QT_QPA_PLATFORM=offscreen "$exe") > "$work/gui.log" 2>&1 &
gui=$!
sleep 8
kill -0 "$gui" 2>/dev/null || { cat "$work/gui.log"; fail "the window quit on its own"; }
kill -TERM "$gui"
for _ in $(seq 20); do kill -0 "$gui" 2>/dev/null || break; sleep 0.5; done
kill -0 "$gui" 2>/dev/null && fail "the window ignored SIGTERM"
wait "$gui" || true
ok "window stayed up 8 s, ended on SIGTERM"
if command -v Xvfb >/dev/null; then
  display=:$((90 + RANDOM % 100))
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 & xvfb=$!
  sleep 1
  out=$(run "$export_home" DISPLAY="$display" QT_QPA_PLATFORM=xcb IMAGESTUDIO_EXIT_AFTER_SHOW=1 \
    timeout 120 "$exe" 2>&1) || fail "the window did not open under Xvfb (xcb): $out"
  ok "under Xvfb (xcb): $(grep -o 'window shown after [0-9.]* s' <<<"$out")"
  kill "$xvfb" 2>/dev/null || true
fi

step "generate with the starter model (first run, then again)"
prompt="a red circle on a blue background"
drop_caches
t=$(now)
run "$export_home" "$exe" generate "$prompt" --seed 7 --output "$work/x/out.png"
gen_cold=$(since "$t")
t=$(now)
run "$export_home" "$exe" generate "$prompt" --seed 8 --output "$work/x/out2.png"
gen_warm=$(since "$t")
"$python" - "$work/x/out.png" "$work/x/out2.png" <<'EOF'
import json
import sys

from PIL import Image

for path in sys.argv[1:]:
    image = Image.open(path)
    image.load()
    assert image.format == "PNG", image.format
    assert image.size == (64, 64), f"{path}: {image.size}, not 64x64"
    parameters = image.text.get("parameters", "")
    assert "Steps:" in parameters and "Seed:" in parameters, f"{path}: parameters {parameters!r}"
    request = json.loads(image.text["imagestudio"])
    print(f"ok: {path}: 64x64 PNG; parameters: {parameters.splitlines()[-1][:90]}...;"
          f" imagestudio JSON with {len(request)} keys")
EOF
ok "generate: ${gen_cold} s first run ($cache), ${gen_warm} s second run"

step "upscale (the shipped Real-ESRGAN networks) and hires fix"
t=$(now)
run "$export_home" "$exe" upscale "$work/x/out.png" --scale 4 --output "$work/x/up.png"
up_s=$(since "$t")
run "$export_home" "$exe" upscale "$work/x/out.png" --scale 2 \
  --upscaler realesr-animevideov3-x4 --output "$work/x/up2.png"
t=$(now)
run "$export_home" "$exe" generate "{a red|a green} circle" --seed 7 --hires-scale 4 \
  --output "$work/x/hires.png"
hires_s=$(since "$t")
"$python" - "$work/x" <<'EOF'
import sys
from pathlib import Path

from PIL import Image

folder = Path(sys.argv[1])
for name, size, key in (("up.png", 256, "Postprocess upscaler: R-ESRGAN 4x+"),
                        ("up2.png", 128, "Postprocess upscaler: R-ESRGAN AnimeVideo"),
                        ("hires.png", 256, "Hires upscaler: R-ESRGAN 4x+")):
    image = Image.open(folder / name)
    assert image.size == (size, size), f"{name}: {image.size}"
    assert key in image.text["parameters"], f"{name}: {image.text['parameters']!r}"
    print(f"ok: {name}: {size}x{size}, {key}")
EOF
ok "upscale x4 64->256: ${up_s} s; hires fix 64->256 with a wildcard prompt: ${hires_s} s"

step "stylize (fast, then quality)"
t=$(now)
run "$export_home" "$exe" stylize --content "$work/x/out.png" --style "$app/imagestudio.png" \
  --output "$work/x/styled.png"
style_fast=$(since "$t")
t=$(now)
run "$export_home" "$exe" stylize --mode quality --iterations 4 --size 64 \
  --content "$work/x/out.png" --style "$app/imagestudio.png" --output "$work/x/styled_q.png"
style_quality=$(since "$t")
"$python" - "$work/x/styled.png" "$work/x/styled_q.png" <<'EOF'
import json
import sys

from PIL import Image

for path in sys.argv[1:]:
    image = Image.open(path)
    image.load()
    # a style job's readable line has its own key (readers take "parameters" for a prompt)
    assert image.text.get("imagestudio-style"), f"{path}: no imagestudio-style chunk"
    assert "parameters" not in image.text, f"{path}: a parameters chunk"
    json.loads(image.text["imagestudio"])
    print(f"ok: {path}: {image.size[0]}x{image.size[1]} PNG with imagestudio-style and "
          "imagestudio chunks")
EOF
ok "stylize: fast ${style_fast} s, quality (4 iterations, 64 px) ${style_quality} s"

step "model library: a LoRA, a pickle conversion, the list"
# Made with the development Python: a LoRA for the starter's UNet (kohya keys) and a pickle
# checkpoint; the bundle must apply the one (peft, diffusers.loaders) and convert the other.
"$python" - "$work/x" <<'EOF'
import sys
from pathlib import Path

import torch

sys.path.insert(0, ".")
from imagestudio.core.generation.engine import prepare_model_stack  # noqa: E402
from imagestudio.core.models.library import builtin_model_dir  # noqa: E402

prepare_model_stack()  # before diffusers: torchvision from PyPI beside a CPU torch
from tests.core.generation.test_lora import write_lora  # noqa: E402

out = Path(sys.argv[1])
write_lora(out / "ink.safetensors", builtin_model_dir(), "kohya")
torch.save({"state_dict": {"w": torch.ones(3)}}, out / "old.ckpt")
EOF
chmod a+r "$work/x/ink.safetensors" "$work/x/old.ckpt"
run "$export_home" "$exe" generate "a red circle on a blue background" --seed 7 \
  --lora "$work/x/ink.safetensors:0.8" --output "$work/x/lora.png"
"$python" - "$work/x/lora.png" <<'EOF'
import json
import sys

from PIL import Image

request = json.loads(Image.open(sys.argv[1]).text["imagestudio"])
assert request["loras"][0][1] == 0.8, request["loras"]
print(f"ok: LoRA recorded: {request['loras']}")
EOF
run "$export_home" "$exe" models convert "$work/x/old.ckpt" --output "$work/x/old.safetensors"
[ -s "$work/x/old.safetensors" ] || fail "models convert wrote nothing"
run "$export_home" "$exe" models list | tee "$work/models.txt"
grep -q starter "$work/models.txt" || fail "models list does not show the starter model"
ok "LoRA applied and recorded, pickle converted, models listed"

step "history"
run "$export_home" "$exe" history list | tee "$work/history.txt"
[ "$(grep -c . "$work/history.txt")" -ge 4 ] || fail "history does not list the four jobs"
ok "history lists the jobs"

step "first launch without IMAGESTUDIO_HOME (the platform's usual folders)"
run HOME="$work/home2" "$exe" generate "a yellow star on a purple background" --seed 3 >/dev/null
(cd "$work/home2" && find . -type f | sort) | tee "$work/home2.txt"
grep -q '^./Pictures/ImageStudio/.*\.png$' "$work/home2.txt" || fail "no picture in ~/Pictures/ImageStudio"
grep -q '^./.local/share/ImageStudio/history.sqlite3' "$work/home2.txt" \
  || fail "no history in ~/.local/share/ImageStudio"
ok "pictures in ~/Pictures/ImageStudio, history in ~/.local/share/ImageStudio"

step "the bundle did not change"
find "$app" -printf '%P %s %T@ %m\n' | sort > "$work/after.txt"
if ! diff "$work/before.txt" "$work/after.txt"; then fail "files inside the bundle changed"; fi
ok "nothing new or changed inside the bundle ($(wc -l < "$work/after.txt") entries)"

step "symlinked executable (as install-desktop-entry.sh links it into ~/.local/bin)"
mkdir -p "$work/bin" && ln -s "$exe" "$work/bin/imagestudio"
run "$export_home" "$work/bin/imagestudio" history list >/dev/null && ok "runs through a symlink"

bundle_size=$(du -sh "$app" | cut -f1)
bundle_bytes=$(du -sb "$app" | cut -f1)
tar_size=$(du -h "$tarball" | cut -f1)
step "sizes"
for part in torch PySide6 onnxruntime transformers imagestudio; do
  du -sh "$app/_internal/$part"
done

if [ "$measure_trim" = 1 ]; then
  step "baseline build without exclusions (to measure them)"
  "$python" packaging/build.py --torch cpu --no-trim --skip-package \
    --dist build/notrim/dist --work build/notrim/work
  full_bytes=$(du -sb build/notrim/dist/ImageStudio | cut -f1)
  saved=$(awk -v a="$full_bytes" -v b="$bundle_bytes" 'BEGIN { printf "%.0f MiB (%.0f%%)", (a-b)/2^20, 100*(a-b)/a }')
  echo "without exclusions: $(du -sh build/notrim/dist/ImageStudio | cut -f1); with: $bundle_size; saved $saved"
fi

step "summary"
build_text="skipped"
[ -n "${build_s:-}" ] && build_text="$build_s s (build.py: PyInstaller and the tarball)"
cat <<EOF
bundle:            $bundle_size ($app, from $tarball)
tarball:           $tar_size
build:             $build_text
info:              ${info_cold} s first run ($cache), ${info_warm} s second
window:            $shown (offscreen)
generate 64x64:    ${gen_cold} s first run ($cache), ${gen_warm} s second (starter model, default steps)
upscale x4:        ${up_s} s (64->256, Real-ESRGAN x4plus); hires fix x4: ${hires_s} s
stylize:           fast ${style_fast} s, quality ${style_quality} s
ran as:            $user, network: $network, bundle read-only and unchanged
EOF
echo "ALL CHECKS PASSED"
