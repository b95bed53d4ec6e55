/* The review item screen: synchronised OpenSeadragon viewers, swipe / flicker / difference overlays,
   keyboard decisions, and the next item swapped in without a page reload (the forms still work
   without JavaScript: POST, then redirect). */
(function () {
  "use strict";

  var OSD_IMAGES = document.currentScript.dataset.osdImages;
  var view = null; // everything built for the current item, torn down before the next one
  var busy = false;

  function viewerOptions(id, url) {
    return {
      id: id,
      prefixUrl: OSD_IMAGES,
      tileSources: { type: "image", url: url, buildPyramid: false },
      showNavigationControl: false,
      animationTime: 0.25,
      visibilityRatio: 0.5,
      minZoomImageRatio: 0.5,
      maxZoomPixelRatio: 6,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
    };
  }

  // Viewport coordinates are normalised to the image width, so one zoom and one centre shown in both
  // viewers means both images at the same scale and position.
  function synchronise(viewers) {
    var leader = null;
    viewers.forEach(function (source) {
      source.addHandler("viewport-change", function () {
        if (leader && leader !== source) return;
        leader = source;
        viewers.forEach(function (target) {
          if (target === source) return;
          target.viewport.zoomTo(source.viewport.getZoom(), null, true);
          target.viewport.panTo(source.viewport.getCenter(), true);
        });
        leader = null;
      });
    });
  }

  // Where Right sits in Left's frame when verification measured a crop (boxes are fractions).
  function placeRight(tiled, params, leftAspect) {
    var box = params.crop_box;
    if (!box || !tiled) return;
    if (params.crop_of === "left") {
      tiled.setPosition(new OpenSeadragon.Point(box[0], box[1] * leftAspect), true);
      tiled.setWidth(box[2] - box[0], true);
    } else if (params.crop_of === "right") {
      var width = 1 / (box[2] - box[0]);
      tiled.setPosition(new OpenSeadragon.Point(-box[0] * width, -box[1] * width * leftAspect), true);
      tiled.setWidth(width, true);
    }
  }

  function build() {
    var root = document.getElementById("review-item");
    var configNode = document.getElementById("viewer-config");
    if (!root || !configNode || typeof OpenSeadragon === "undefined") return;
    var config = JSON.parse(configNode.textContent);
    var left = OpenSeadragon(viewerOptions("osd-left", config.left));
    var right = OpenSeadragon(viewerOptions("osd-right", config.right));
    var overlay = OpenSeadragon(viewerOptions("osd-overlay", config.left));
    view = { config: config, left: left, right: right, overlay: overlay, top: null, timer: null, mode: "side" };
    synchronise([left, right]);
    overlay.addOnceHandler("open", function () {
      overlay.addTiledImage({
        tileSource: { type: "image", url: config.right, buildPyramid: false },
        success: function (event) {
          view.top = event.item;
          var base = overlay.world.getItemAt(0);
          var size = base.source.dimensions;
          placeRight(view.top, config.params || {}, size.y / size.x);
          applyMode(view.mode);
        },
      });
    });
    root.querySelectorAll("[data-mode]").forEach(function (button) {
      button.addEventListener("click", function () { applyMode(button.dataset.mode); });
    });
    root.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () { zoom(button.dataset.zoom); });
    });
    var swipe = document.getElementById("swipe-position");
    if (swipe) swipe.addEventListener("input", function () { applyMode("swipe"); });
    var rate = document.getElementById("flicker-rate");
    if (rate) rate.addEventListener("change", function () { if (view.mode === "flicker") applyMode("flicker"); });
  }

  function teardown() {
    if (!view) return;
    clearInterval(view.timer);
    [view.left, view.right, view.overlay].forEach(function (viewer) { viewer.destroy(); });
    view = null;
  }

  function active() {
    return view.mode === "side" ? view.left : view.overlay;
  }

  function zoom(how) {
    if (!view) return;
    var viewer = active();
    if (how === "home") viewer.viewport.goHome();
    else viewer.viewport.zoomBy(how === "in" ? 1.5 : 1 / 1.5);
    viewer.viewport.applyConstraints();
  }

  function copyView(from, to) {
    to.viewport.zoomTo(from.viewport.getZoom(), null, true);
    to.viewport.panTo(from.viewport.getCenter(), true);
  }

  function applyMode(mode) {
    if (!view) return;
    var previous = view.mode;
    var root = document.getElementById("review-item");
    var viewerBox = document.getElementById("viewer");
    clearInterval(view.timer);
    view.mode = mode;
    viewerBox.dataset.mode = mode;
    root.querySelectorAll("[data-mode]").forEach(function (button) {
      button.classList.toggle("active", button.dataset.mode === mode);
    });
    root.querySelector(".swipe-control").hidden = mode !== "swipe";
    root.querySelector(".flicker-control").hidden = mode !== "flicker";
    // The overlay keeps the place the reviewer was looking at, and gives it back.
    if (previous === "side" && (mode === "swipe" || mode === "flicker")) copyView(view.left, view.overlay);
    if ((previous === "swipe" || previous === "flicker") && mode === "side") copyView(view.overlay, view.left);
    var label = root.querySelector(".overlay-label");
    var top = view.top;
    if (top) {
      top.setClip(null);
      top.setOpacity(1);
    }
    if (mode === "swipe" && top) {
      var at = Number(document.getElementById("swipe-position").value) / 100;
      var size = top.source.dimensions;
      top.setClip(new OpenSeadragon.Rect(at * size.x, 0, size.x * (1 - at) + 1, size.y));
      label.textContent = label.dataset.swipe;
    } else if (mode === "flicker" && top) {
      var shown = true;
      var every = Number(document.getElementById("flicker-rate").value) || 500;
      view.timer = setInterval(function () {
        shown = !shown;
        top.setOpacity(shown ? 1 : 0);
        label.textContent = shown ? label.dataset.right : label.dataset.left;
      }, every);
    } else if (mode === "difference") {
      drawDifference(document.getElementById("difference-canvas"), view.config);
    }
    window.dispatchEvent(new Event("resize"));
  }

  function loadImage(url) {
    return new Promise(function (resolve, reject) {
      var image = new Image();
      image.onload = function () { resolve(image); };
      image.onerror = reject;
      image.src = url;
    });
  }

  // Right turned back into Left's orientation: mirror first, then undo the measured rotation.
  function orient(image, params) {
    var angle = Number(params.angle || 0) * Math.PI / 180;
    var quarter = Math.round(Number(params.angle || 0) / 90) % 2 !== 0;
    var w = image.naturalWidth, h = image.naturalHeight;
    var canvas = document.createElement("canvas");
    canvas.width = quarter ? h : w;
    canvas.height = quarter ? w : h;
    var ctx = canvas.getContext("2d");
    ctx.translate(canvas.width / 2, canvas.height / 2);
    ctx.rotate(-angle);
    if (params.mirror) ctx.scale(-1, 1);
    ctx.drawImage(image, -w / 2, -h / 2);
    return canvas;
  }

  function drawDifference(canvas, config) {
    Promise.all([loadImage(config.left), loadImage(config.right)]).then(function (images) {
      var left = images[0], params = config.params || {};
      var right = orient(images[1], params);
      var rx = 0, ry = 0, rw = right.width, rh = right.height;
      if (params.border) {
        var b = params.border;
        rx = b[0] * rw; ry = b[1] * rh; rw = rw * (1 - b[0] - b[2]); rh = rh * (1 - b[1] - b[3]);
      }
      var box = params.crop_box;
      var lx = 0, ly = 0, lw = left.naturalWidth, lh = left.naturalHeight;
      if (box && params.crop_of === "left") {
        lx = box[0] * lw; ly = box[1] * lh; lw = (box[2] - box[0]) * lw; lh = (box[3] - box[1]) * lh;
      } else if (box && params.crop_of === "right") {
        rx += box[0] * rw; ry += box[1] * rh; rw = (box[2] - box[0]) * rw; rh = (box[3] - box[1]) * rh;
      }
      canvas.width = Math.round(lw);
      canvas.height = Math.round(lh);
      var ctx = canvas.getContext("2d");
      ctx.globalCompositeOperation = "source-over";
      ctx.drawImage(left, lx, ly, lw, lh, 0, 0, canvas.width, canvas.height);
      ctx.globalCompositeOperation = "difference";
      ctx.drawImage(right, rx, ry, rw, rh, 0, 0, canvas.width, canvas.height);
      // Small differences (recompression) are invisible at their true size: stretch them.
      var data = ctx.getImageData(0, 0, canvas.width, canvas.height);
      for (var i = 0; i < data.data.length; i += 4) {
        data.data[i] = Math.min(255, data.data[i] * 4);
        data.data[i + 1] = Math.min(255, data.data[i + 1] * 4);
        data.data[i + 2] = Math.min(255, data.data[i + 2] * 4);
        data.data[i + 3] = 255;
      }
      ctx.putImageData(data, 0, 0);
      canvas.dataset.ready = "true";
    });
  }

  // --- decisions without a page reload -----------------------------------------------------------

  function swapIn(html, url) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var next = doc.getElementById("review-item");
    teardown();
    if (!next) {
      // The queue page (queue empty) or an error page: show it whole.
      document.title = doc.title;
      document.body.replaceWith(document.adoptNode(doc.body));
      history.pushState({}, "", url);
      return;
    }
    var main = document.querySelector("main");
    main.querySelectorAll(":scope > .message").forEach(function (node) { node.remove(); });
    var messages = doc.querySelectorAll("main > .message");
    for (var i = messages.length - 1; i >= 0; i--) main.prepend(document.adoptNode(messages[i]));
    document.getElementById("review-item").innerHTML = next.innerHTML;
    document.title = doc.title;
    history.pushState({}, "", url);
    build();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest("#review-item") || form.method.toLowerCase() !== "post") return;
    event.preventDefault();
    if (busy) return;
    busy = true;
    var body = new FormData(form, event.submitter || undefined);
    fetch(form.action, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (html) { swapIn(html, response.url); });
      })
      .catch(function () { form.submit(); })
      .finally(function () { busy = false; });
  });

  var KEYS = {
    ArrowLeft: "keep-left", j: "keep-left",
    ArrowRight: "keep-right", k: "keep-right",
    r: "related", n: "distinct", s: "skip", e: "escalate",
  };
  var MODES = { v: "side", w: "swipe", f: "flicker", d: "difference" };

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target.matches && target.matches("input, textarea, select")) {
      // Enter in the comment must not submit the first button (keep left) by accident.
      if (event.key === "Enter" && target.id === "decision-comment") event.preventDefault();
      if (event.key === "Escape" || event.key === "Enter") target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || !document.getElementById("review-item")) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    var form = document.getElementById("decision-form");
    if (KEYS[key]) {
      var button = form && form.querySelector('button[value="' + KEYS[key] + '"]');
      if (button) {
        event.preventDefault();
        form.requestSubmit(button);
      }
    } else if (MODES[key]) {
      applyMode(MODES[key]);
    } else if (key === "u") {
      var undo = document.getElementById("undo-form");
      if (undo) undo.requestSubmit();
    } else if (key === "c") {
      var comment = document.getElementById("decision-comment");
      if (comment) { event.preventDefault(); comment.focus(); }
    } else if (key === "+" || key === "=") {
      zoom("in");
    } else if (key === "-") {
      zoom("out");
    } else if (key === "0") {
      zoom("home");
    }
  });

  window.addEventListener("popstate", function () { window.location.reload(); });
  build();
})();
