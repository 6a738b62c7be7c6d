// The design editor (templates/fulfillment/design.html; docs/print-files.md, "The design
// editor"). The form's inputs are the edit state; the Konva canvas and the keyboard change
// them, and every change is sent (debounced) to the server, which checks it against the
// template and answers the preview rendered by the production renderer. The server is the
// authority: this file only keeps honest edits inside the print area.
(function () {
  "use strict";
  var root = document.getElementById("editor");
  var dataEl = document.getElementById("design-data");
  if (!root || !dataEl) return;
  var data = JSON.parse(dataEl.textContent);
  var form = document.getElementById("design-form");
  var stateInput = document.getElementById("design-state");
  var previewImg = document.getElementById("design-preview");
  var statusEl = document.getElementById("design-status");
  var problemsEl = document.getElementById("design-problems");
  var selectedEl = document.getElementById("design-selected");
  var container = document.getElementById("design-canvas");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var locked = !!data.locked;
  var W = data.area.width_in, H = data.area.height_in;
  var photoUrls = {};
  data.photos.forEach(function (p) { photoUrls[p.id] = p.url; });
  var fieldsets = Array.prototype.slice.call(form.querySelectorAll("fieldset[data-layer-id]"));
  var selected = null;

  function num(v, d) { var n = parseFloat(v); return isFinite(n) ? n : d; }
  function r3(v) { return Math.round(v * 1000) / 1000; }
  function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }
  function input(fs, prop) { return fs.querySelector("[data-prop=" + prop + "]"); }
  function fieldset(id) { return form.querySelector("fieldset[data-layer-id='" + id + "']"); }

  function box(fs) {
    return [num(input(fs, "x").value, 0), num(input(fs, "y").value, 0),
            num(input(fs, "w").value, 1), num(input(fs, "h").value, 1)];
  }
  function setBox(fs, b) {
    // inside the print area: the server refuses anything else
    var w = clamp(b[2], 0.1, W), h = clamp(b[3], 0.1, H);
    input(fs, "w").value = r3(w); input(fs, "h").value = r3(h);
    input(fs, "x").value = r3(clamp(b[0], 0, W - w));
    input(fs, "y").value = r3(clamp(b[1], 0, H - h));
  }
  function crop(fs) {
    // zoom into the photo around a point (across, down): the window stays inside the photo
    var z = clamp(num(input(fs, "zoom").value, 1), 1, 5), half = 0.5 / z;
    var cx = clamp(num(input(fs, "cx").value, 0.5), half, 1 - half);
    var cy = clamp(num(input(fs, "cy").value, 0.5), half, 1 - half);
    return [r3(cx - half), r3(cy - half), r3(cx + half), r3(cy + half)];
  }
  function readState() {
    return {layers: fieldsets.map(function (fs) {
      var id = fs.dataset.layerId;
      if (fs.dataset.layerType === "text") {
        return {id: id, text: input(fs, "text").value, font: input(fs, "font").value,
                color: input(fs, "color").value, box: box(fs)};
      }
      var photo = input(fs, "photo").value;
      return {id: id, photo: photo ? parseInt(photo, 10) : null, box: box(fs), crop: crop(fs)};
    })};
  }

  // --- the canvas ---------------------------------------------------------------------
  var stage = null, nodes = {}, transformer = null, scale = 1;
  function buildCanvas() {
    if (!window.Konva) return;
    var width = Math.min(container.clientWidth || 560, 640);
    scale = width / W;
    stage = new Konva.Stage({container: container, width: width, height: Math.round(H * scale)});
    var layer = new Konva.Layer();
    stage.add(layer);
    layer.add(new Konva.Rect({x: 0, y: 0, width: W * scale, height: H * scale, fill: "#fff",
                              stroke: "#94a3b8", strokeWidth: 1}));
    fieldsets.forEach(function (fs) {
      var id = fs.dataset.layerId, b = box(fs);
      var group = new Konva.Group({x: b[0] * scale, y: b[1] * scale, draggable: !locked, id: "l" + id});
      var frame = new Konva.Rect({width: b[2] * scale, height: b[3] * scale, stroke: "#2563eb",
                                  dash: [4, 3], strokeWidth: 1});
      group.add(frame);
      if (fs.dataset.layerType === "text") {
        group.add(new Konva.Text({width: b[2] * scale, height: b[3] * scale, align: "center",
                                  verticalAlign: "middle", fontSize: Math.max(8, b[3] * scale * 0.5),
                                  text: input(fs, "text").value, fill: input(fs, "color").value,
                                  name: "content"}));
      } else {
        group.add(new Konva.Image({width: b[2] * scale, height: b[3] * scale, name: "content"}));
      }
      group.dragBoundFunc(function (pos) {
        var bb = box(fs);
        return {x: clamp(pos.x, 0, (W - bb[2]) * scale), y: clamp(pos.y, 0, (H - bb[3]) * scale)};
      });
      group.on("mousedown touchstart", function () { select(id); });
      group.on("dragend", function () {
        var bb = box(fs);
        setBox(fs, [group.x() / scale, group.y() / scale, bb[2], bb[3]]);
        changed();
      });
      group.on("transformend", function () {
        var bb = box(fs);
        setBox(fs, [group.x() / scale, group.y() / scale, bb[2] * group.scaleX(), bb[3] * group.scaleY()]);
        group.scale({x: 1, y: 1});
        changed();
      });
      layer.add(group);
      nodes[id] = group;
      drawPhoto(fs);
    });
    transformer = new Konva.Transformer({rotateEnabled: false, keepRatio: true, visible: !locked});
    layer.add(transformer);
  }
  function sync(fs) {
    if (!stage) return;
    var g = nodes[fs.dataset.layerId], b = box(fs);
    g.position({x: b[0] * scale, y: b[1] * scale});
    g.getChildren().forEach(function (c) { c.width(b[2] * scale); c.height(b[3] * scale); });
    var content = g.findOne(".content");
    if (fs.dataset.layerType === "text") {
      content.text(input(fs, "text").value);
      content.fill(input(fs, "color").value);
      content.fontSize(Math.max(8, b[3] * scale * 0.5));
    }
    g.getLayer().batchDraw();
  }
  function drawPhoto(fs) {
    if (!stage || fs.dataset.layerType !== "photo") return;
    var id = input(fs, "photo").value, content = nodes[fs.dataset.layerId].findOne(".content");
    if (!id || !photoUrls[id]) { content.image(null); content.getLayer().batchDraw(); return; }
    var img = new Image();
    img.onload = function () {
      var c = crop(fs);
      content.image(img);
      content.crop({x: c[0] * img.width, y: c[1] * img.height,
                    width: (c[2] - c[0]) * img.width, height: (c[3] - c[1]) * img.height});
      content.getLayer().batchDraw();
    };
    img.src = photoUrls[id];
  }

  function select(id) {
    selected = id;
    fieldsets.forEach(function (fs) {
      var on = fs.dataset.layerId === id;
      fs.querySelector("[data-select-layer]").setAttribute("aria-pressed", on ? "true" : "false");
      fs.style.borderColor = on ? "#2563eb" : "";
    });
    var fs = fieldset(id);
    selectedEl.textContent = "Selected: " + fs.querySelector("legend").textContent.trim() +
      (locked ? "." : ". Arrow keys move it, + and − resize it.");
    if (transformer && nodes[id] && !locked) transformer.nodes([nodes[id]]);
  }

  // --- keyboard -----------------------------------------------------------------------
  container.addEventListener("keydown", function (e) {
    if (locked || selected === null) return;
    var fs = fieldset(selected), b = box(fs), step = e.shiftKey ? 0.5 : 0.05;
    var moves = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step]};
    if (moves[e.key]) {
      setBox(fs, [b[0] + moves[e.key][0], b[1] + moves[e.key][1], b[2], b[3]]);
    } else if (e.key === "+" || e.key === "=" || e.key === "-" || e.key === "−") {
      var f = (e.key === "-" || e.key === "−") ? 0.95 : 1.05;
      var w = clamp(b[2] * f, 0.1, W), h = clamp(b[3] * f, 0.1, H);
      setBox(fs, [b[0] - (w - b[2]) / 2, b[1] - (h - b[3]) / 2, w, h]);
    } else {
      return;
    }
    e.preventDefault();
    sync(fs);
    changed();
  });
  form.addEventListener("click", function (e) {
    var b = e.target.closest("[data-select-layer]");
    if (b) { select(b.dataset.selectLayer); container.focus(); }
  });

  // --- the live preview -----------------------------------------------------------------
  var timer = null, inflight = null, lastUrl = null;
  function readAsDataUrl(blob) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(reader.result); };
      reader.onerror = function () { reject(reader.error); };
      reader.readAsDataURL(blob);
    });
  }
  function changed() {
    stateInput.value = JSON.stringify(readState());
    if (locked) return;
    clearTimeout(timer);
    timer = setTimeout(preview, 200);
  }
  function preview() {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    statusEl.textContent = "Updating the preview…";
    statusEl.className = "";
    fetch(data.urls.preview, {method: "POST", body: stateInput.value, signal: inflight.signal,
                              credentials: "same-origin",
                              headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}})
      .then(function (res) {
        if (!res.ok) {
          return res.json().then(function (body) {
            statusEl.textContent = "Not allowed: " + body.error.message;
            statusEl.className = "error";
          });
        }
        var problems = JSON.parse(res.headers.get("X-Design-Problems") || "[]");
        return res.blob().then(readAsDataUrl).then(function (url) {
          // a data: URL, which the CSP's img-src allows (blob: it does not)
          lastUrl = url;
          previewImg.src = lastUrl;
          previewImg.dataset.fresh = String(Date.now());
          problemsEl.textContent = "";
          problems.forEach(function (p) {
            var li = document.createElement("li");
            li.className = p.severity === "error" ? "error" : "muted";
            li.textContent = (p.severity === "error" ? "Fix: " : "Check: ") + p.message;
            problemsEl.appendChild(li);
          });
          statusEl.textContent = "Preview updated";
          document.dispatchEvent(new CustomEvent("design-preview", {detail: {url: lastUrl}}));
        });
      })
      .catch(function (err) {
        if (err.name !== "AbortError") { statusEl.textContent = "The preview failed: " + err.message; statusEl.className = "error"; }
      });
  }

  fieldsets.forEach(function (fs) {
    fs.addEventListener("input", function (e) {
      if (e.target.matches("[data-upload-photo]")) return;
      if (["x", "y", "w", "h"].indexOf(e.target.dataset.prop) >= 0 && e.type === "input") {
        var b = box(fs);
        if (b[2] >= 0.1 && b[3] >= 0.1) setBox(fs, b);
      }
      sync(fs);
      if (["photo", "zoom", "cx", "cy"].indexOf(e.target.dataset.prop) >= 0) drawPhoto(fs);
      changed();
    });
    var upload = fs.querySelector("[data-upload-photo]");
    if (upload) upload.addEventListener("change", function () {
      if (!upload.files.length) return;
      var body = new FormData();
      body.append("file", upload.files[0]);
      statusEl.textContent = "Uploading the photo…";
      fetch(data.urls.photos, {method: "POST", body: body, credentials: "same-origin",
                               headers: {"X-CSRFToken": csrf}})
        .then(function (res) { return res.json().then(function (b) { return [res.ok, b]; }); })
        .then(function (r) {
          if (!r[0]) { statusEl.textContent = "Photo refused: " + r[1].error.message; statusEl.className = "error"; return; }
          photoUrls[r[1].id] = r[1].url;
          form.querySelectorAll("select[data-prop=photo]").forEach(function (sel) {
            var o = document.createElement("option");
            o.value = r[1].id;
            o.textContent = (upload.files[0].name || "photo") + " (" + r[1].width + " × " + r[1].height + " px)";
            sel.appendChild(o);
          });
          input(fs, "photo").value = String(r[1].id);
          drawPhoto(fs);
          changed();
        });
    });
  });
  form.addEventListener("submit", function () { stateInput.value = JSON.stringify(readState()); });

  if (locked) {
    form.querySelectorAll("input:not([type=hidden]), select").forEach(function (el) { el.disabled = true; });
  }
  buildCanvas();
  stateInput.value = JSON.stringify(readState());
  root.dataset.ready = "1";
})();
