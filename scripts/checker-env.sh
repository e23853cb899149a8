#!/usr/bin/env bash
# Build (once) the Debian 13 "trixie" chroot that holds the official ONNX tools
# used as independent judges of onnxq's output: python3-onnx 1.17 (checker,
# strict shape inference, reference evaluator) and python3-onnxruntime 1.21
# (with its onnxruntime.quantization tool, for benchmarks).
#
#   scripts/checker-env.sh      # build if missing, else print "ok DIR (...)"
#
# Location: $ONNXQ_CHECKER_ROOT, default /var/cache/onnxq/trixie.
# Mirror:   the Debian mirror of the host's apt sources (one-line .list and
#           deb822 .sources formats); $ONNXQ_DEBIAN_MIRROR overrides it.
#
# The chroot is complete only when its marker file exists and names the same
# recipe as this script: a half-built or outdated chroot is deleted and built
# again. Building needs root, debootstrap and network access to the mirror
# (about a minute, ~700 MB). Use it through scripts/onnx-check and
# scripts/chroot-python.
set -euo pipefail

CHROOT=${ONNXQ_CHECKER_ROOT:-/var/cache/onnxq/trixie}
SUITE=trixie
PACKAGES=(python3-onnx python3-onnxruntime python3-numpy)
MARKER_NAME=.onnxq-checker-complete
# Bump the recipe string whenever the build steps change: existing chroots
# are then rebuilt.
RECIPE="onnxq-checker v1 suite=$SUITE variant=minbase packages=${PACKAGES[*]}"

die() { echo "checker-env: ERROR: $*" >&2; exit 1; }
say() { echo "checker-env: $*" >&2; }

[[ $CHROOT == /* ]] || die "ONNXQ_CHECKER_ROOT must be an absolute path (got $CHROOT)"
CHROOT=${CHROOT%/}
[[ -n $CHROOT && $CHROOT != / ]] || die "refusing to use / as the checker root"
MARKER=$CHROOT/$MARKER_NAME

# is_complete: the marker exists with this recipe and the tools are there.
is_complete() {
	[[ -f $MARKER && -x $CHROOT/usr/bin/python3 ]] || return 1
	[[ $(head -n1 "$MARKER") == "$RECIPE" ]]
}

report_ok() {
	echo "ok $CHROOT ($(sed -n 2p "$MARKER"))"
}

if is_complete; then
	report_ok
	exit 0
fi

# ---------------------------------------------------------------------------
# Build.

[[ $(id -u) -eq 0 ]] || die "the checker chroot $CHROOT is missing or incomplete; building it needs root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
command -v unshare >/dev/null || die "unshare (util-linux) is not installed"

mkdir -p "$(dirname "$CHROOT")"
exec 9>"$CHROOT.lock"
flock 9
if is_complete; then # another run finished it while we waited
	report_ok
	exit 0
fi

# host_mirrors: print "URI SUITE" for every enabled deb source of the host.
host_mirrors() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		# deb [opt=val ...] URI SUITE COMPONENT...
		sed -e 's/#.*//' -e 's/\[[^]]*\]//g' "$f" | awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		# deb822 stanzas: Types/URIs/Suites/Enabled fields, blank-line separated,
		# continuation lines start with white space.
		awk '
			function flush(   i, j, nu, ns, u, s) {
				if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") {
					nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
					for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
						if (u[i] != "" && s[j] != "") print u[i], s[j]
				}
				types = uris = suites = enabled = ""; field = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ { if (field == "uris") uris = uris " " $0; else if (field == "suites") suites = suites " " $0; next }
			{
				name = tolower($0); sub(/:.*/, "", name)
				val = $0; sub(/^[^:]*:[ \t]*/, "", val)
				field = name
				if (name == "types") types = val
				else if (name == "uris") uris = val
				else if (name == "suites") suites = val
				else if (name == "enabled") enabled = val
			}
			END { flush() }
		' "$f"
	done
}

# pick_mirror: the host's main Debian archive: prefer a source whose suite is
# the host's own release codename (not -security/-updates/-backports).
pick_mirror() {
	local codename lines uri suite
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	lines=$(host_mirrors | sed 's/[[:space:]]*$//' | awk '!seen[$0]++')
	if [[ -n $codename ]]; then
		while read -r uri suite; do
			[[ $suite == "$codename" && $uri != *security* ]] && { echo "${uri%/}"; return 0; }
		done <<<"$lines"
	fi
	while read -r uri suite; do
		[[ -n $uri && $suite != *-* && $suite != */* && $uri != *security* ]] && { echo "${uri%/}"; return 0; }
	done <<<"$lines"
	return 1
}

if [[ -n ${ONNXQ_DEBIAN_MIRROR:-} ]]; then
	MIRROR=${ONNXQ_DEBIAN_MIRROR%/}
else
	MIRROR=$(pick_mirror) || die "no Debian mirror found in the host's apt sources; set ONNXQ_DEBIAN_MIRROR"
fi

# Remove a partial chroot. Anything still mounted below it (left by a killed
# process outside a private namespace) is unmounted first; never follow a
# mount point into another file system.
if [[ -e $CHROOT ]]; then
	say "removing incomplete chroot $CHROOT"
	if awk -v d="$CHROOT" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
		umount -R "$CHROOT"/* 2>/dev/null || true
		umount -R "$CHROOT" 2>/dev/null || true
		if awk -v d="$CHROOT" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
			die "file systems are still mounted below $CHROOT; unmount them and run again"
		fi
	fi
	rm -rf --one-file-system "$CHROOT"
fi

LOG=$CHROOT.build.log
: >"$LOG"
say "building $SUITE chroot in $CHROOT from $MIRROR (log: $LOG)"
start=$SECONDS

# All of the build runs in a private mount namespace: the /proc (and /dev,
# /sys) mounts that debootstrap and apt need disappear with it, even when the
# build is killed.
# shellcheck disable=SC2016 # expanded by the inner shell
if ! unshare --mount --propagation private -- bash -euo pipefail -c '
	chroot=$1 suite=$2 mirror=$3; shift 3
	debootstrap --variant=minbase "$suite" "$chroot" "$mirror"
	cp -L /etc/resolv.conf "$chroot/etc/resolv.conf" 2>/dev/null || true
	mountpoint -q "$chroot/proc" || mount -t proc proc "$chroot/proc"
	mount --rbind /dev "$chroot/dev"
	mount -t sysfs -o ro sysfs "$chroot/sys" 2>/dev/null || true
	in_chroot() { chroot "$chroot" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
	in_chroot apt-get update
	in_chroot apt-get install -y --no-install-recommends "$@"
	in_chroot apt-get clean
' onnxq-checker-build "$CHROOT" "$SUITE" "$MIRROR" "${PACKAGES[@]}" >>"$LOG" 2>&1; then
	tail -n 30 "$LOG" >&2
	die "building the checker chroot failed (full log: $LOG); it will be rebuilt on the next run"
fi

# Smoke test: the tools import in the documented order (onnx.reference before
# onnxruntime: Debian's onnx and onnxruntime share one schema registry).
# shellcheck disable=SC2016 # expanded by the inner shell
versions=$(unshare --mount --propagation private -- bash -euo pipefail -c '
	mount -t proc proc "$1/proc"
	chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 python3 -c "
import onnx, onnx.reference, onnxruntime, numpy
print(f\"python3-onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}, mirror $2\")
"' onnxq-checker-smoke "$CHROOT" "$MIRROR" 2> >(grep -v 'Schema error: Trying to register schema' >>"$LOG")) ||
	die "the chroot was built but python3 -c 'import onnx, onnx.reference, onnxruntime' fails (log: $LOG)"

printf '%s\n%s\n' "$RECIPE" "$versions" >"$MARKER.new"
mv "$MARKER.new" "$MARKER"
say "built in $((SECONDS - start)) s, $(du -sh --one-file-system "$CHROOT" | cut -f1)"
echo "built $CHROOT ($versions)"
