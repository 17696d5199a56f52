#!/usr/bin/env bash
# Creates .venv/ in the repository root with everything needed to run, export
# and test GafferSegmentation.
#
#   scripts/setup.sh            full developer set-up (engine, export, tests)
#   scripts/setup.sh --runtime  engine only (CPU ONNX Runtime, no torch)
#   scripts/setup.sh --gpu      engine only, with onnxruntime-gpu
#
# Re-running is safe: pip skips what is already installed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
mode=${1:-full}
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
	echo "setup: creating .venv with $($python --version)"
	"$python" -m venv .venv
fi
pip() { .venv/bin/python -m pip "$@"; }
pip install --quiet --upgrade pip setuptools wheel

case "$mode" in
	--runtime)
		pip install --quiet -e ".[runtime]"
		;;
	--gpu)
		pip install --quiet -e ".[gpu]"
		;;
	full|--full)
		# 1. torch + torchvision first: the export packages import both, and
		#    sam2 must be built against this torch.
		pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
		# 2. sam2 is a source package; build it here without CUDA kernels and
		#    without build isolation (isolation downloads another torch).
		if ! .venv/bin/python -c "import sam2" 2>/dev/null; then
			SAM2_BUILD_CUDA=0 pip install --quiet --no-deps --no-build-isolation "sam2==1.1.0"
		fi
		# 3. groundingdino-py ships no compiled code; its declared
		#    requirements are installed with the export extra below.
		if ! .venv/bin/python -c "import groundingdino" 2>/dev/null; then
			pip install --quiet --no-deps --no-build-isolation "groundingdino-py==0.4.0"
		fi
		pip install --quiet -e ".[runtime,export,test]"
		;;
	*)
		echo "usage: scripts/setup.sh [--runtime|--gpu]" >&2
		exit 2
		;;
esac
echo "setup: done. Activate with: source .venv/bin/activate"
