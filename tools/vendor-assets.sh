#!/usr/bin/env bash
# Copy the browser assets the pages need from node_modules into app/static/vendor (served locally, no CDN).
set -euo pipefail
cd "$(dirname "$0")/.."
out=app/static/vendor
mkdir -p "$out"
# BarcodeDetector ponyfill (global BarcodeDetectionAPI) and the zxing-wasm reader it loads.
cp node_modules/barcode-detector/dist/iife/ponyfill.js "$out/barcode-detector.js"
cp node_modules/zxing-wasm/dist/reader/zxing_reader.wasm "$out/zxing_reader.wasm"
touch "$out/.stamp"
