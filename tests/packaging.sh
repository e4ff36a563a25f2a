#!/usr/bin/env bash
# Packaging tests.
#  1. OpenWrt: runs openwrt/acebox/files/acebox.init under a harness standing in for
#     /etc/rc.common, /lib/functions.sh (UCI: config_load reads fixtures written here) and
#     procd (procd_* record their calls), with busybox ash (OpenWrt's shell) and dash when
#     installed, and checks the command line, respawn, logging and the reload trigger.
#  2. Debian: checks a .deb built by scripts/build-deb.sh with dpkg-deb: the binary, the systemd
#     unit, /etc/default/acebox as a conffile, the Architecture, and that the binary runs.
#
#   tests/packaging.sh [path/to/acebox_*.deb]
# Without an argument it takes dist/host/acebox_*.deb, building it with
# `scripts/build-deb.sh host` when there is none. The last line is "N passed, M failed"; the
# exit code is 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export LC_ALL=C

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1${2:+ ($2)}"; }
# expect DESCRIPTION ACTUAL EXPECTED
expect() { if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi; }
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- 1. OpenWrt init script --------------------------------------------------------------------

init=openwrt/acebox/files/acebox.init
shipped_config=openwrt/acebox/files/acebox.config

# The harness: `sh harness.sh INIT CONFIG_DIR OUT` does what `/etc/init.d/acebox start` does
# under procd. OUT.log gets one line per procd call; OUT.argv the instance's command, one
# argument per line.
cat >"$tmp/harness.sh" <<'HARNESS'
# shellcheck shell=dash
initscript=$1
UCI_CONFIG_DIR=$2
out=$3
: >"$out.log"
: >"$out.argv"

# /lib/functions.sh, the part the init script may use: config_load reads a UCI file (one
# `config TYPE 'NAME'`, `option NAME 'VALUE'` or `list NAME 'VALUE'` per line, shell-style
# quoting) into CONFIG_<section>_<option> variables (lists as _ITEMn and _LENGTH), as uci_load
# does; config_list_foreach calls a function with each item of a list.
config_load() {
	[ -f "$UCI_CONFIG_DIR/$1" ] || return 1
	# A new load starts its lists afresh, as uci_load does.
	for _l in ${_lists:-}; do eval "CONFIG_${_l}_LENGTH=0"; done
	_lists=
	_sec=
	while IFS= read -r _line || [ -n "$_line" ]; do
		set -f
		eval "set -- $_line"
		set +f
		case ${1:-} in
			config) _sec=$3 ;;
			option) eval "CONFIG_${_sec}_$2=\$3" ;;
			list)
				eval "_n=\$((\${CONFIG_${_sec}_$2_LENGTH:-0} + 1))"
				[ "$_n" = 1 ] && _lists="$_lists ${_sec}_$2"
				eval "CONFIG_${_sec}_$2_ITEM$_n=\$3; CONFIG_${_sec}_$2_LENGTH=$_n"
				;;
		esac
	done <"$UCI_CONFIG_DIR/$1"
}
config_get() {
	if [ $# -le 2 ]; then
		eval "echo \"\${CONFIG_$1_$2:-}\""
		return
	fi
	eval "$1=\${CONFIG_$2_$3:-\${4:-}}"
}
config_list_foreach() {
	local _n _i _v
	eval "_n=\${CONFIG_$1_$2_LENGTH:-0}"
	_i=1
	while [ "$_i" -le "$_n" ]; do
		eval "_v=\$CONFIG_$1_$2_ITEM$_i"
		"$3" "$_v"
		_i=$((_i + 1))
	done
}
config_get_bool() {
	local _tmp
	config_get _tmp "$2" "$3" "$4"
	case "$_tmp" in
		1 | on | true | yes | enabled) _tmp=1 ;;
		0 | off | false | no | disabled) _tmp=0 ;;
		*) _tmp="$4" ;;
	esac
	eval "$1=\$_tmp"
}

# /lib/functions/procd.sh, recorded.
_inst=0
note() { echo "$*" >>"$out.log"; }
procd_open_service() { note "open_service $*"; }
procd_open_instance() { [ $_inst = 0 ] || note "ERROR nested instance"; _inst=1; note "open_instance"; }
procd_close_instance() { [ $_inst = 1 ] || note "ERROR close without open"; _inst=0; note "close_instance"; }
procd_set_param() {
	[ $_inst = 1 ] || note "ERROR set_param $1 outside an instance"
	note "set_param $*"
	if [ "$1" = command ]; then
		shift
		: >"$out.argv"
		for _a in "$@"; do printf '%s\n' "$_a" >>"$out.argv"; done
	fi
}
procd_append_param() {
	[ $_inst = 1 ] || note "ERROR append_param $1 outside an instance"
	note "append_param $*"
	if [ "$1" = command ]; then
		shift
		for _a in "$@"; do printf '%s\n' "$_a" >>"$out.argv"; done
	fi
}
procd_add_reload_trigger() { note "reload_trigger $*"; }
# procd_close_service sends the service to procd with its triggers, as the real one does.
procd_close_service() { [ $_inst = 0 ] || note "ERROR instance left open"; service_triggers; note "close_service"; }

# /etc/rc.common: defaults, then the script (the file under test), then `start` -> rc_procd start_service.
start_service() { return 0; }
service_triggers() { return 0; }
# shellcheck disable=SC1090
. "$initscript"
note "vars START=${START:-} USE_PROCD=${USE_PROCD:-}"
[ "${USE_PROCD:-}" = 1 ] || { note "ERROR not a procd script"; exit 1; }
procd_open_service acebox "$initscript"
start_service
procd_close_service
HARNESS

shells=()
command -v busybox >/dev/null 2>&1 && busybox sh -c : 2>/dev/null && shells+=("busybox sh")
command -v dash >/dev/null 2>&1 && shells+=(dash)
((${#shells[@]})) || shells=(sh)

# run_init NAME CONFIG_TEXT: runs the init script with /etc/config/acebox = CONFIG_TEXT.
# Leaves $out (the record's prefix) and $cmdline (the command, arguments joined by spaces).
run_init() {
  mkdir -p "$tmp/$1"
  printf '%s\n' "$2" >"$tmp/$1/acebox"
  out=$tmp/$1/out
  # shellcheck disable=SC2086 # $shell is "busybox sh" or a single word
  $shell "$tmp/harness.sh" "$init" "$tmp/$1" "$out" 2>"$out.err" || echo "ERROR harness exit $?" >>"$out.log"
  [[ ! -s $out.err ]] || echo "ERROR stderr: $(head -c 300 "$out.err")" >>"$out.log"
  cmdline=$(paste -sd ' ' "$out.argv")
}
no_errors() { ! grep -q '^ERROR' "$out.log"; }
logged() { grep -qxF -- "$1" "$out.log"; }

check "init script: sh -n" sh -n "$init"
expect "init script: rc.common shebang" "$(head -1 "$init")" "#!/bin/sh /etc/rc.common"
defaults_cmd="/usr/bin/acebox --engine http://127.0.0.1:6878 --listen 0.0.0.0:6880 --idle-timeout 30"

for shell in "${shells[@]}"; do
  s="[$shell]"
  run_init shipped "$(cat "$shipped_config")"
  expect "$s shipped config: command" "$cmdline" "$defaults_cmd"
  check "$s shipped config: no errors, one instance" no_errors
  expect "$s shipped config: instances opened" "$(grep -c '^open_instance$' "$out.log")" 1
  expect "$s START=95 USE_PROCD=1" "$(grep '^vars ' "$out.log")" "vars START=95 USE_PROCD=1"
  respawn=$(grep '^set_param respawn' "$out.log")
  if [[ $respawn =~ ^set_param\ respawn\ ([0-9]+)\ ([0-9]+)\ ([0-9]+)$ ]] &&
    ((BASH_REMATCH[1] >= 60 && BASH_REMATCH[2] >= 1 && BASH_REMATCH[3] >= 1)); then
    ok "$s respawn threshold/timeout/retry: ${respawn#set_param respawn }"
  else
    bad "$s respawn threshold/timeout/retry" "got '$respawn'"
  fi
  check "$s stdout to the log" logged "set_param stdout 1"
  check "$s stderr to the log" logged "set_param stderr 1"
  check "$s file limit raised" logged "set_param limits nofile=4096 4096"
  check "$s reload trigger on config acebox" logged "reload_trigger acebox"

  run_init changed "config acebox 'main'
	option enabled '1'
	option engine 'http://192.168.1.10:6878'
	option listen '127.0.0.1:7000'
	option idle_timeout '120'"
  expect "$s changed options" "$cmdline" \
    "/usr/bin/acebox --engine http://192.168.1.10:6878 --listen 127.0.0.1:7000 --idle-timeout 120"

  run_init more "config acebox 'main'
	option channels '/etc/acebox/my list.m3u'
	option log_level 'debug'
	list allow '192.168.1.0/24'
	list allow 'fd00::/8'
	list host 'tv.example.org'
	list token 'phone=Zq3-kP9_x7.wL2~mN4vB'
	list token 'tv=0123456789abcdef0123'"
  expect "$s channels, log level, allow, host and token lists" "$(paste -sd '|' "$out.argv")" \
    "/usr/bin/acebox|--channels|/etc/acebox/my list.m3u|--log-level|debug|--allow|192.168.1.0/24|--allow|fd00::/8|--host|tv.example.org|--token|phone=Zq3-kP9_x7.wL2~mN4vB|--token|tv=0123456789abcdef0123"

  run_init quiet "config acebox 'main'
	option announce '0'"
  expect "$s announce '0' turns announcing off" "$cmdline" "/usr/bin/acebox --no-announce"

  run_init missing "config acebox 'main'
	option enabled '1'
	option engine 'http://127.0.0.1:6878'
	option idle_timeout '30'"
  expect "$s missing listen is left out" "$cmdline" \
    "/usr/bin/acebox --engine http://127.0.0.1:6878 --idle-timeout 30"

  run_init bare "config acebox 'main'"
  expect "$s no options: no flags, acebox's defaults (enabled by default)" "$cmdline" "/usr/bin/acebox"

  run_init spaces "config acebox 'main'
	option engine 'http://engine host:6878'
	option listen '*'"
  expect "$s a value stays one argument, unglobbed" "$(sed -n '3p;5p' "$out.argv" | paste -sd '|')" \
    "http://engine host:6878|*"

  for off in 0 no off; do
    run_init "disabled-$off" "config acebox 'main'
	option enabled '$off'
	option engine 'http://127.0.0.1:6878'"
    if ! grep -q 'open_instance' "$out.log" && [[ -z $cmdline ]] && no_errors; then
      ok "$s enabled '$off' starts nothing"
    else
      bad "$s enabled '$off' starts nothing" "$(paste -sd ';' "$out.log")"
    fi
  done
  check "$s disabled: the reload trigger is still set" logged "reload_trigger acebox"
done

# The feed Makefile: the fields the package needs (it is only built inside an OpenWrt tree).
mk=openwrt/acebox/Makefile
# shellcheck disable=SC2016 # make syntax, literally
for want in 'PKG_NAME:=acebox' 'PKG_VERSION:=0.1.0' 'PKG_LICENSE:=MIT' 'PKG_SOURCE_PROTO:=git' \
  'PKG_BUILD_DEPENDS:=rust/host' 'include $(INCLUDE_DIR)/package.mk' \
  'include $(TOPDIR)/feeds/packages/lang/rust/rust-package.mk' 'DEPENDS:=$(RUST_ARCH_DEPENDS)' \
  '/etc/config/acebox' '$(INSTALL_BIN) ./files/acebox.init $(1)/etc/init.d/acebox' \
  '$(INSTALL_CONF) ./files/acebox.config $(1)/etc/config/acebox' \
  '$(INSTALL_BIN) $(PKG_INSTALL_DIR)/bin/acebox $(1)/usr/bin/' \
  '$(eval $(call BuildPackage,acebox))'; do
  check "Makefile has: $want" grep -qF -- "$want" "$mk"
done
# shellcheck disable=SC2016
pkg_line=$(grep -n 'include $(INCLUDE_DIR)/package.mk' "$mk" | cut -d: -f1)
rust_line=$(grep -n 'rust-package.mk$' "$mk" | cut -d: -f1)
check "Makefile includes package.mk before rust-package.mk" test "${pkg_line:-0}" -lt "${rust_line:-0}"
# The board profile the package is built with, for each OpenWrt architecture (MIPS included).
if command -v make >/dev/null 2>&1; then
  for pair in aarch64:openwrt-aarch64 arm:openwrt-armv7 mipsel:openwrt-mipsel mips:openwrt-mips; do
    # shellcheck disable=SC2016
    got=$(printf '%s\nall: ; @echo $(ACEBOX_BOARD)\n' "$(grep '^ACEBOX_BOARD?=' "$mk")" |
      make -s --no-print-directory -f - ARCH="${pair%%:*}")
    check "Makefile builds ${pair#*:} for ARCH=${pair%%:*}" test "$got" = "${pair#*:}"
  done
fi

# --- 2. Debian package -----------------------------------------------------------------------

deb=${1:-}
if [[ -z $deb ]]; then
  deb=$(find dist/host -maxdepth 1 -name 'acebox_*.deb' 2>/dev/null | sort | tail -n 1)
  if [[ -z $deb ]]; then
    echo "tests/packaging.sh: no dist/host/*.deb; building one with scripts/build-deb.sh host" >&2
    deb=$(scripts/build-deb.sh host | tail -n 1)
  fi
fi
if [[ ! -f $deb ]]; then
  bad "a .deb to check" "none found or built: '$deb'"
else
  echo "checking $deb"
  board=$(basename "$(dirname "$deb")")
  case $board in
    host) want_arch=amd64 ;;
    rpi-aarch64) want_arch=arm64 ;;
    rpi-armv7) want_arch=armhf ;;
    *) want_arch= ;;
  esac
  contents=$(dpkg-deb -c "$deb")
  field() { dpkg-deb -f "$deb" "$1"; }
  member() { dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "$1"; }

  expect "Package" "$(field Package)" acebox
  version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
  expect "Version is Cargo.toml's" "$(field Version)" "$version-1"
  arch=$(field Architecture)
  if [[ -n $want_arch ]]; then
    expect "Architecture for $board" "$arch" "$want_arch"
  else
    echo "note: $deb is not under dist/<board>/; Architecture $arch checked against the binary only"
  fi

  bin_mode=$(awk '$6 == "./usr/bin/acebox" {print $1}' <<<"$contents")
  expect "./usr/bin/acebox is an executable file" "$bin_mode" "-rwxr-xr-x"
  unit=$(awk '$6 ~ /^\.\/(usr\/)?lib\/systemd\/system\/acebox\.service$/ {print $6}' <<<"$contents")
  if [[ -n $unit ]]; then ok "systemd unit at $unit"; else bad "systemd unit acebox.service"; fi
  if [[ -n $unit ]]; then
    member "$unit" >"$tmp/acebox.service"
    # shellcheck disable=SC2016
    for want in 'Restart=on-failure' 'ExecStart=/usr/bin/acebox $ACEBOX_ARGS' \
      'EnvironmentFile=-/etc/default/acebox' 'DynamicUser=yes' 'WantedBy=multi-user.target' \
      'LimitNOFILE=8192'; do
      check "unit: $want" grep -qxF -- "$want" "$tmp/acebox.service"
    done
    # The LAN announcements find the interfaces' addresses over rtnetlink (src/lan/addrs.rs):
    # a sandbox without AF_NETLINK leaves acebox announced nowhere.
    check "unit: RestrictAddressFamilies allows AF_NETLINK" \
      grep -qE '^RestrictAddressFamilies=.*\bAF_NETLINK\b' "$tmp/acebox.service"
    if command -v systemd-analyze >/dev/null 2>&1; then
      # verify wants ExecStart's binary to exist: point it at the packaged one.
      mkdir -p "$tmp/root" "$tmp/verify"
      dpkg-deb -x "$deb" "$tmp/root"
      sed "s|^ExecStart=/usr/bin/acebox|ExecStart=$tmp/root/usr/bin/acebox|" "$tmp/acebox.service" \
        >"$tmp/verify/acebox.service"
      if verify=$(systemd-analyze verify "$tmp/verify/acebox.service" 2>&1) && [[ -z $verify ]]; then
        ok "unit: systemd-analyze verify is clean"
      else
        bad "unit: systemd-analyze verify" "$verify"
      fi
    fi
  fi
  check "./etc/default/acebox in the package" grep -qE ' \./etc/default/acebox$' <<<"$contents"
  dpkg-deb -e "$deb" "$tmp/control"
  check "/etc/default/acebox is a conffile" grep -qxF /etc/default/acebox "$tmp/control/conffiles"
  check "postinst enables acebox.service" grep -qF 'deb-systemd-helper enable acebox.service' \
    "$tmp/control/postinst"
  check "prerm stops acebox.service" grep -qF 'stop acebox.service' "$tmp/control/prerm"
  if [[ $(member ./etc/default/acebox | grep -cvE '^[[:space:]]*(#|$)') == 0 ]]; then
    ok "/etc/default/acebox sets nothing by default (acebox's defaults apply)"
  else
    bad "/etc/default/acebox sets nothing by default"
  fi

  # The binary: its ELF machine matches Architecture, and it runs (natively or under qemu-user).
  member ./usr/bin/acebox >"$tmp/acebox" && chmod +x "$tmp/acebox"
  machine=$(readelf -h "$tmp/acebox" 2>/dev/null | sed -n 's/^ *Machine: *//p')
  case $machine in
    *X86-64*) elf_arch=amd64; runner=() ;;
    *AArch64*) elf_arch=arm64; runner=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
    ARM) elf_arch=armhf; runner=(qemu-arm -L /usr/arm-linux-gnueabihf) ;;
    *) elf_arch="unknown ($machine)"; runner=() ;;
  esac
  expect "binary's ELF machine matches Architecture" "$elf_arch" "$arch"
  if [[ $elf_arch == "$(dpkg --print-architecture)" ]]; then runner=(); fi
  if ((${#runner[@]})) && ! command -v "${runner[0]}" >/dev/null 2>&1; then
    # CI installs qemu-user (scripts/cross-setup.sh): there, not running the binary is a failure.
    if [[ -n ${CI:-} ]]; then
      bad "binary runs" "${runner[0]} is not installed (scripts/cross-setup.sh installs qemu-user)"
    else
      echo "SKIPPED: running the $elf_arch binary needs ${runner[0]} (apt-get install qemu-user)"
    fi
  else
    expect "binary runs: --version" "$("${runner[@]}" "$tmp/acebox" --version 2>&1 | head -1)" \
      "acebox $version"
    if [[ -n $want_arch ]]; then
      board_line=$("${runner[@]}" "$tmp/acebox" --board 2>&1 | head -1)
      expect "binary was built for board $board" "${board_line%% (*}" "board: $board"
    fi
  fi
fi

echo "$passed passed, $failed failed"
((failed == 0))
