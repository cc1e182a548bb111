// The verify component: camera scan (native BarcodeDetector, else the local zxing-wasm polyfill, else the
// server decodes a captured frame), bill file drag-and-drop. Everything ends in the same form submit.
(function () {
  "use strict";
  var box = document.querySelector("[data-verify]");
  if (!box) return;
  var form = box.querySelector("[data-verify-form]");
  var video = box.querySelector("[data-scan-video]");
  var startBtn = box.querySelector("[data-scan-start]");
  var stopBtn = box.querySelector("[data-scan-stop]");
  var statusEl = box.querySelector("[data-scan-status]");
  var vendor = box.dataset.vendor;
  var stream = null, timer = null;

  function say(text) { statusEl.textContent = text; }
  // Sentences in the page's language, from the template (data-messages); English if absent.
  var messages = JSON.parse(box.dataset.messages || "{}");
  function t(key, english) { return messages[key] || english; }

  function setFile(input, file) {
    var dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
  }

  function loadPolyfill() {
    return new Promise(function (resolve) {
      if (window.BarcodeDetectionAPI) return resolve(window.BarcodeDetectionAPI);
      var s = document.createElement("script");
      s.src = vendor + "barcode-detector.js";
      s.onload = function () { resolve(window.BarcodeDetectionAPI || null); };
      s.onerror = function () { resolve(null); };
      document.head.appendChild(s);
    });
  }

  function makeDetector() {
    if ("BarcodeDetector" in window) {
      box.dataset.scanMode = "native";
      return Promise.resolve(new window.BarcodeDetector({ formats: ["qr_code"] }));
    }
    return loadPolyfill().then(function (api) {
      if (!api) { box.dataset.scanMode = "server"; return null; }
      box.dataset.scanMode = "polyfill";
      // Serve the wasm from this site, never from a CDN.
      api.prepareZXingModule({
        overrides: {
          locateFile: function (path, prefix) { return path.endsWith(".wasm") ? vendor + "zxing_reader.wasm" : prefix + path; }
        }
      });
      return new api.BarcodeDetector({ formats: ["qr_code"] });
    });
  }

  function stop() {
    clearInterval(timer);
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true; stopBtn.hidden = true; startBtn.hidden = false;
  }

  function found(text) {
    stop();
    try { sessionStorage.setItem("billchain.scanMode", box.dataset.scanMode || ""); } catch (e) { /* private mode */ }
    say(t("found", "QR code found:") + " " + text);
    form.querySelector("input[name=url]").value = text;
    form.submit();
  }

  function uploadFrame() {
    // No detector in this browser: send one frame as a photo, the server decodes it (zxing-cpp).
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob(function (blob) {
      stop();
      try { sessionStorage.setItem("billchain.scanMode", "server"); } catch (e) { /* private mode */ }
      setFile(form.querySelector("input[name=photo]"), new File([blob], "camera.jpg", { type: "image/jpeg" }));
      say(t("checking", "Checking the photo on the server…"));
      form.submit();
    }, "image/jpeg", 0.92);
  }

  startBtn.addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(t("no_camera", "This browser cannot open the camera here; upload a photo instead."));
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s; video.srcObject = s; video.hidden = false; stopBtn.hidden = false; startBtn.hidden = true;
        return video.play().then(makeDetector);
      })
      .then(function (detector) {
        if (!stream) return;
        if (!detector) {
          say(t("hold", "Hold the QR code steady; a photo is taken in 2 seconds."));
          timer = setTimeout(uploadFrame, 2000);
          return;
        }
        say(t("scanning", "Scanning…"));
        var busy = false;
        timer = setInterval(function () {
          if (busy || video.readyState < 2) return;
          busy = true;
          detector.detect(video).then(function (codes) {
            busy = false;
            if (codes.length) found(codes[0].rawValue);
          }).catch(function () { busy = false; });
        }, 250);
      })
      .catch(function (err) { say(t("camera_unavailable", "Camera unavailable; upload a photo instead.") + " (" + err.name + ")"); stop(); });
  });
  stopBtn.addEventListener("click", stop);

  var zone = box.querySelector("[data-dropzone]");
  if (zone) {
    ["dragenter", "dragover"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      zone.addEventListener(ev, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      var file = e.dataTransfer.files[0];
      if (!file) return;
      setFile(zone.querySelector("input[type=file]"), file);
      form.submit();
    });
  }
})();
