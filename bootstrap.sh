#!/usr/bin/env bash
# Set up rtsep on a fresh Debian machine (system packages, .venv, the package), then
# run one task:
#   bash bootstrap.sh demo     # set up, then run the demo (rtsep demo)
#   bash bootstrap.sh test     # set up, then run the test suite
#   bash bootstrap.sh setup    # set up only
#   bash bootstrap.sh data     # set up, plus the large Debian packages of real recordings
#                              # that 'rtsep synth' generates training data from (~4.1 GB installed)
# Idempotent: a second run skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(jackd2 libjack-jackd2-0 fluidsynth fluid-soundfont-gm sonic-pi-samples
              espeak-ng ffmpeg libsndfile1 libfftw3-double3 libfftw3-single3
              # busy cores beside a soak (benchmarks/soak.py --background N)
              stress-ng
              # PipeWire's JACK layer, a host the live tests run on too (pw-jack)
              pipewire pipewire-bin pipewire-jack
              # the LV2 plugin (rtsep.lv2): built from source here; jalv and lv2apply are
              # the hosts its tests run it in
              gcc libc6-dev lv2-dev jalv lilv-utils
              # real recordings the synth tests use, one of each kind (~107 MB to download, 152 MB installed):
              # voices, a Hydrogen kit, the AVL kits, amp responses, instrumental music
              klettres-data hydrogen-data avldrums.lv2-soundfont guitarix-common asc-music)
# Everything 'rtsep synth' can use (rtsep/training/synth/sources.py: PACKAGES), for
# generating training data; licences are read from each package's copyright file at run
# time ('rtsep synth --inventory FILE'). Never copied into this repository.
DATA_PACKAGES=(ktuberling-data fillets-ng-data-cs fillets-ng-data-nl festvox-ru
               hydrogen-drumkits hydrogen-drumkits-effects musescore-general-soundfont-lossless
               wesnoth-1.16-music supertux-data warzone2100-music singularity-music
               hyperrogue-music hedgewars-data
               colobot-common-sounds freedroidrpg-data xmoto-data lincity-ng-data
               neverball-common extremetuxracer-data
               naev-data widelands-data supertuxkart-data warmux-data)

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else log "need root (or sudo) to install: ${APT_PACKAGES[*]}"; exit 2; fi
}

install_system() {
  local missing=()
  for p in "${APT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ! python3 -m venv --help >/dev/null 2>&1; then missing+=(python3-venv); fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    # --no-install-recommends: jackd2 would otherwise pull in Qt.
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_python() {
  local stamp=.venv/.rtsep-installed want
  want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  [ -x .venv/bin/python ] || { log "creating .venv"; python3 -m venv .venv; }
  log "pip: installing rtsep and its dependencies into .venv (TensorFlow is large; a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
}

task=${1:-setup}
case "$task" in
  setup|demo|test|data) ;;
  *) echo "usage: bash bootstrap.sh [setup|demo|test|data] [args...]" >&2; exit 2 ;;
esac
shift || true
if [ "$task" = data ]; then install_system "${DATA_PACKAGES[@]}"; else install_system; fi
install_python
# the LV2 plugin, compiled from rtsep/bridge/lv2 (a second or two); 'rtsep bridge
# --install-plugin' puts a copy into ~/.lv2 where DAWs look
.venv/bin/rtsep bridge --install-plugin .venv/lv2 >/dev/null
case "$task" in
  setup) log "ready: .venv/bin/rtsep --help" ;;
  data) log "ready: the recorded sources are installed (.venv/bin/rtsep synth --inventory sources.json lists them)" ;;
  demo) exec .venv/bin/rtsep demo "$@" ;;
  test)
    set +e
    .venv/bin/python -m pytest "$@"
    rc=$?
    [ $rc -eq 5 ] && { log "pytest collected no tests"; rc=1; }
    exit $rc ;;
esac
