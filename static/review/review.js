/* The review item screen (and the re-review screen): two OpenSeadragon viewers linked at the same
   original pixel scale or at the verified alignment, swipe / flicker / difference overlays that follow
   the alignment, keyboard decisions, and the next item prepared while the reviewer looks at this one
   (its page, previews and first tiles), shown the moment the decision key is pressed. The forms still
   work without JavaScript: POST, then redirect. */
(function () {
  "use strict";

  var OSD_IMAGES = document.currentScript.dataset.osdImages;
  // The bench's baseline switches the preparing off (bench/next_pair.py); nobody else needs to.
  var PREFETCH = window.localStorage.getItem("mastercopy.prefetch") !== "off";
  var current = null; // the item on screen: {root, view}
  var prepared = null; // the predicted next item, built off screen: {url, host, node, view, doc}
  var busy = false;
  var queued = null; // a decision key pressed while busy

  // OpenSeadragon 6 puts a <style> in the head for one rule (no focus outline on touch screens) unless
  // an element matching style[data-openseadragon-mobile-css] is there: an inline style, which the CSP
  // refuses (and reports in the console). The rule is in review.css instead; this marker, named
  // "style" but outside HTML's namespace (no style sheet, so nothing for the CSP to refuse), is what
  // OpenSeadragon looks for.
  if (!document.querySelector("style[data-openseadragon-mobile-css]")) {
    var marker = document.createElementNS("urn:x-mastercopy:marker", "style");
    marker.setAttribute("data-openseadragon-mobile-css", "in review.css");
    document.head.appendChild(marker);
  }

  // --- geometry: where Right lies in Left's world -------------------------------------------------
  // OpenSeadragon's world is Left's: 1 unit wide, aspect units high. Verification's parameters
  // (dedup/verify.py) say Right = mirror(turn clockwise by angle(Left)), and which box of each frame
  // shows the same scene (crop_box / other_crop_box in fractions; border margins; a caption strip).

  function quarterTurns(params) {
    return ((Math.round(Number(params.angle || 0) / 90) % 4) + 4) % 4;
  }

  function ccw(point) { return [point[1], 1 - point[0]]; } // a quarter turn back, in fractions
  function cw(point) { return [1 - point[1], point[0]]; }

  // Right's raw fractions → fractions of Right turned back into Left's orientation, and back.
  function rawToOriented(point, turns, mirror) {
    var p = mirror ? [1 - point[0], point[1]] : point.slice();
    for (var i = 0; i < turns; i++) p = ccw(p);
    return p;
  }
  function orientedToRaw(point, turns, mirror) {
    var p = point.slice();
    for (var i = 0; i < turns; i++) p = cw(p);
    return mirror ? [1 - p[0], p[1]] : p;
  }

  function boxOf(points) {
    var xs = points.map(function (p) { return p[0]; }), ys = points.map(function (p) { return p[1]; });
    return [Math.min.apply(null, xs), Math.min.apply(null, ys), Math.max.apply(null, xs), Math.max.apply(null, ys)];
  }

  function alignment(config) {
    var p = config.params || {};
    var L = config.left, R = config.right;
    var turns = quarterTurns(p);
    var mirror = Boolean(p.mirror);
    var left = [0, 0, 1, 1], right = [0, 0, 1, 1]; // the same scene: a box of Left, a box of raw Right
    if (p.crop_of === "left" && p.crop_box) left = p.crop_box;
    else if (p.crop_of === "right" && p.crop_box) right = p.crop_box;
    else if (p.crop_of === "both" && p.crop_box) { left = p.crop_box; right = p.other_crop_box || right; }
    else if (p.border) right = [p.border[0], p.border[1], 1 - p.border[2], 1 - p.border[3]];
    else if (p.overlay === "caption strip" && p.overlay_box) {
      var strip = p.overlay_box;
      right = strip[1] <= 0.001 ? [0, strip[3], 1, 1] : [0, 0, 1, strip[1]];
    }
    var corners = [[right[0], right[1]], [right[2], right[1]], [right[0], right[3]], [right[2], right[3]]];
    var oriented = boxOf(corners.map(function (c) { return rawToOriented(c, turns, mirror); }));
    var aspectL = L.height / L.width;
    var odd = turns % 2 === 1;
    var aspectRo = odd ? R.width / R.height : R.height / R.width; // Right turned back
    var width = (left[2] - left[0]) / (oriented[2] - oriented[0]);
    var height = (left[3] - left[1]) * aspectL / (oriented[3] - oriented[1]);
    var rect = { x: left[0] - oriented[0] * width, y: left[1] * aspectL - oriented[1] * height, width: width, height: height };
    var centre = { x: rect.x + width / 2, y: rect.y + height / 2 };
    height = width * aspectRo; // the picture keeps its own aspect when drawn
    var rawWidth = odd ? height : width;
    return {
      turns: turns,
      mirror: mirror,
      degrees: -(Number(p.angle || 0) + Number(p.skew_angle || 0)),
      aspectL: aspectL,
      aspectR: R.height / R.width,
      rect: rect, // Right, turned back, in Left's world
      raw: { x: centre.x - rawWidth / 2, y: centre.y - rawWidth * (R.height / R.width) / 2, width: rawWidth },
    };
  }

  // A point of Left's world → the same picture point in Right's own world (Right 1 unit wide), and back.
  function leftToRight(a, point) {
    var s = [(point.x - a.rect.x) / a.rect.width, (point.y - a.rect.y) / a.rect.height];
    var raw = orientedToRaw(s, a.turns, a.mirror);
    return new OpenSeadragon.Point(raw[0], raw[1] * a.aspectR);
  }
  function rightToLeft(a, point) {
    var s = rawToOriented([point.x, point.y / a.aspectR], a.turns, a.mirror);
    return new OpenSeadragon.Point(a.rect.x + s[0] * a.rect.width, a.rect.y + s[1] * a.rect.height);
  }

  function union(a) {
    var x0 = Math.min(0, a.rect.x), y0 = Math.min(0, a.rect.y);
    var x1 = Math.max(1, a.rect.x + a.rect.width), y1 = Math.max(a.aspectL, a.rect.y + a.rect.height);
    return new OpenSeadragon.Rect(x0, y0, x1 - x0, y1 - y0);
  }

  // --- viewers ----------------------------------------------------------------------------------------

  function source(image) {
    // The original's tiles through the IIIF Image API when the service is there, else the preview.
    return image.info || { type: "image", url: image.preview, buildPyramid: false };
  }

  function viewerOptions(element) {
    return {
      element: element,
      prefixUrl: OSD_IMAGES,
      drawer: "canvas", // compositing (difference), clipping (swipe) and read-back (tests) are exact here
      showNavigationControl: false,
      animationTime: 0.2,
      visibilityRatio: 0.2,
      minZoomImageRatio: 0.5,
      maxZoomPixelRatio: 8,
      immediateRender: true,
      imageLoaderLimit: 8,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
    };
  }

  // Screen pixels per pixel of the original (not of the preview, when only the preview is shown).
  // (A IIIF source is the original, upright; a preview is smaller by its width's ratio.)
  function sourceRatio(tiled, image) {
    return tiled.source instanceof OpenSeadragon.IIIFTileSource ? 1 : tiled.source.dimensions.x / image.width;
  }
  function pixelScale(viewer, image) {
    var tiled = viewer.world.getItemAt(0);
    if (!tiled) return null;
    return tiled.viewportToImageZoom(viewer.viewport.getZoom(true)) * sourceRatio(tiled, image);
  }
  function zoomForPixelScale(viewer, image, scale) {
    var tiled = viewer.world.getItemAt(0);
    return tiled.imageToViewportZoom(scale / sourceRatio(tiled, image));
  }

  // The preview when the original's tiles cannot be had yet (a large original is tiled in the
  // background: its info.json answers 503 until then).
  function openWithFallback(viewer, image) {
    viewer.addOnceHandler("open-failed", function () {
      if (image.info) viewer.open({ type: "image", url: image.preview, buildPyramid: false });
    });
    viewer.open(source(image));
  }

  function build(root) {
    var configNode = root.querySelector("#viewer-config");
    if (!configNode || typeof OpenSeadragon === "undefined") return null;
    var config = JSON.parse(configNode.textContent);
    var a = alignment(config);
    var box = root.querySelector(".viewer");
    var view = {
      root: root, config: config, align: a, box: box, mode: "side", link: "pixels",
      anchor: null, timer: null, shownB: true, top: null, syncing: false, loaded: false, leader: null,
      left: OpenSeadragon(viewerOptions(root.querySelector("#osd-left"))),
      right: OpenSeadragon(viewerOptions(root.querySelector("#osd-right"))),
      overlay: OpenSeadragon(viewerOptions(root.querySelector("#osd-overlay"))),
    };
    openWithFallback(view.left, config.left);
    openWithFallback(view.right, config.right);
    openWithFallback(view.overlay, config.left);
    view.overlay.addOnceHandler("open", function () {
      view.overlay.addTiledImage({
        tileSource: source(config.right),
        x: a.raw.x, y: a.raw.y, width: a.raw.width,
        degrees: a.degrees, flipped: a.mirror,
        success: function (event) { view.top = event.item; applyMode(view, view.mode); },
        error: function () {
          if (!config.right.info) return;
          view.overlay.addTiledImage({
            tileSource: { type: "image", url: config.right.preview, buildPyramid: false },
            x: a.raw.x, y: a.raw.y, width: a.raw.width, degrees: a.degrees, flipped: a.mirror,
            success: function (event) { view.top = event.item; applyMode(view, view.mode); },
          });
        },
      });
    });
    view.leader = view.left;
    view.left.addOnceHandler("open", function () { place(view); });
    view.right.addOnceHandler("open", function () { place(view); });
    link(view);
    watchLoaded(view);
    wire(view);
    return view;
  }

  // Right's place in its own pane: in Left's world at the alignment, or alone at its own scale.
  function place(view) {
    var tiled = view.right.world.getItemAt(0);
    if (!tiled || !view.left.world.getItemAt(0)) return;
    var a = view.align;
    if (view.link === "aligned") {
      tiled.setPosition(new OpenSeadragon.Point(a.raw.x, a.raw.y), true);
      tiled.setWidth(a.raw.width, true);
      tiled.setRotation(a.degrees, true);
      tiled.setFlip(a.mirror);
    } else {
      tiled.setPosition(new OpenSeadragon.Point(0, 0), true);
      tiled.setWidth(1, true);
      tiled.setRotation(0, true);
      tiled.setFlip(false);
    }
    view.box.dataset.link = view.link;
    var button = view.root.querySelector("[data-link]");
    if (button) {
      button.textContent = button.dataset[view.link];
      button.setAttribute("aria-pressed", String(view.link === "aligned"));
    }
    fit(view);
  }

  function paneAnchor(view, viewer) {
    // The pointer's place in the pane it is over (in fractions), else the pane's centre.
    var at = view.anchor && view.anchor.viewer === viewer ? view.anchor : { fx: 0.5, fy: 0.5 };
    var size = viewer.viewport.getContainerSize();
    return new OpenSeadragon.Point(at.fx * size.x, at.fy * size.y);
  }

  // Make `target` show what `source` shows: the same view of Left's world (aligned), or the same picture
  // point at the same place in the pane (under the pointer) and the same original pixel scale (pixels).
  function follow(view, sourceViewer, targetViewer) {
    if (!sourceViewer.world.getItemAt(0) || !targetViewer.world.getItemAt(0)) return;
    if (view.link === "aligned") {
      // Both panes hold Left's world (Right placed in it by the alignment): one view fits both.
      copyView(sourceViewer, targetViewer);
      return;
    }
    var leftSide = sourceViewer === view.left;
    var sourceImage = leftSide ? view.config.left : view.config.right;
    var targetImage = leftSide ? view.config.right : view.config.left;
    var anchor = paneAnchor(view, sourceViewer);
    var point = sourceViewer.viewport.viewerElementToViewportCoordinates(anchor);
    var mapped = leftSide ? leftToRight(view.align, point) : rightToLeft(view.align, point);
    var scale = pixelScale(sourceViewer, sourceImage);
    targetViewer.viewport.zoomTo(zoomForPixelScale(targetViewer, targetImage, scale), null, true);
    var size = targetViewer.viewport.getContainerSize();
    var ratio = new OpenSeadragon.Point(anchor.x / sourceViewer.viewport.getContainerSize().x * size.x,
      anchor.y / sourceViewer.viewport.getContainerSize().y * size.y);
    var there = targetViewer.viewport.viewerElementToViewportCoordinates(ratio);
    targetViewer.viewport.panBy(mapped.minus(there), true);
  }

  function link(view) {
    [view.left, view.right].forEach(function (viewer) {
      viewer.addHandler("viewport-change", function () {
        // Only the pane the reviewer works in leads: a follower's own change event must not echo back
        // (it would stop the leader's animation half-way).
        if (view.syncing || viewer !== view.leader) return;
        view.syncing = true;
        try { follow(view, viewer, viewer === view.left ? view.right : view.left); } finally { view.syncing = false; }
        showScale(view);
      });
      var element = viewer.element;
      element.addEventListener("pointermove", function (event) {
        var r = element.getBoundingClientRect();
        view.anchor = { viewer: viewer, fx: (event.clientX - r.left) / r.width, fy: (event.clientY - r.top) / r.height };
      });
      element.addEventListener("pointerleave", function () { view.anchor = null; });
      ["pointerenter", "pointerdown", "wheel"].forEach(function (name) {
        element.addEventListener(name, function () { view.leader = viewer; }, { passive: true });
      });
    });
    view.overlay.addHandler("viewport-change", function () { if (view.mode === "swipe") swipe(view); });
  }

  function showScale(view) {
    [[view.left, view.config.left, ".pane.left"], [view.right, view.config.right, ".pane.right"]].forEach(function (row) {
      if (!row[0].viewport.getContainerSize().x) return;
      var scale = pixelScale(row[0], row[1]);
      var node = view.root.querySelector(row[2] + " [data-scale]");
      if (node && scale) node.textContent = (scale >= 1 ? Math.round(scale * 100) / 100 + ":1" : "1:" + Math.round(100 / scale) / 100);
    });
  }

  // Fit: the whole of both pictures, borders and caption strips included.
  function fit(view) {
    if (!view.left.world.getItemAt(0) || !view.right.world.getItemAt(0)) return;
    view.syncing = true;
    try {
      if (view.link === "aligned") {
        var all = union(view.align);
        view.left.viewport.fitBounds(all, true);
        view.right.viewport.fitBounds(all, true);
      } else {
        // The same pixel scale in both, small enough for the larger of the two to fit whole.
        view.left.viewport.goHome(true);
        view.right.viewport.fitBounds(view.right.world.getItemAt(0).getBounds(), true);
        var scale = Math.min(pixelScale(view.left, view.config.left), pixelScale(view.right, view.config.right));
        [[view.left, view.config.left], [view.right, view.config.right]].forEach(function (row) {
          row[0].viewport.zoomTo(zoomForPixelScale(row[0], row[1], scale), null, true);
          row[0].viewport.panTo(row[0].world.getItemAt(0).getBounds().getCenter(), true);
        });
      }
      if (view.overlay.world.getItemCount()) view.overlay.viewport.fitBounds(union(view.align), true);
    } finally {
      view.syncing = false;
    }
    showScale(view);
  }

  function watchLoaded(view) {
    var viewers = [view.left, view.right];
    function check() {
      var done = viewers.every(function (viewer) {
        var tiled = viewer.world.getItemAt(0);
        return tiled && tiled.getFullyLoaded();
      });
      if (done && !view.loaded) {
        view.loaded = true;
        view.root.dispatchEvent(new CustomEvent("mc:loaded"));
      }
    }
    viewers.forEach(function (viewer) {
      viewer.world.addHandler("add-item", function (event) {
        event.item.addHandler("fully-loaded-change", check);
        check();
      });
    });
    view.check = check;
  }

  function wire(view) {
    var root = view.root;
    root.querySelectorAll("[data-mode]").forEach(function (button) {
      button.addEventListener("click", function () { applyMode(view, button.dataset.mode); });
    });
    root.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () { zoom(view, button.dataset.zoom); });
    });
    var linkButton = root.querySelector("[data-link]");
    if (linkButton) linkButton.addEventListener("click", function () { toggleLink(view); });
    var ab = root.querySelector("[data-toggle-ab]");
    if (ab) ab.addEventListener("click", function () { toggleAB(view); });
    var range = root.querySelector("#swipe-position");
    if (range) range.addEventListener("input", function () { applyMode(view, "swipe"); });
    var rate = root.querySelector("#flicker-rate");
    if (rate) rate.addEventListener("change", function () { if (view.mode === "flicker") applyMode(view, "flicker"); });
  }

  function teardown(view) {
    if (!view) return;
    clearInterval(view.timer);
    [view.left, view.right, view.overlay].forEach(function (viewer) { viewer.destroy(); });
  }

  function activeViewer(view) {
    return view.mode === "side" ? view.left : view.overlay;
  }

  function zoom(view, how) {
    var viewer = activeViewer(view);
    if (viewer === view.left) view.leader = view.left;
    if (how === "home") return fit(view);
    if (how === "actual") {
      // 1:1: one pixel of the original (Left's, in the overlays) to one screen pixel.
      viewer.viewport.zoomTo(zoomForPixelScale(viewer, view.config.left, 1), null, false);
      return;
    }
    viewer.viewport.zoomBy(how === "in" ? 1.5 : 1 / 1.5);
    viewer.viewport.applyConstraints();
  }

  function toggleLink(view) {
    view.link = view.link === "aligned" ? "pixels" : "aligned";
    place(view);
  }

  // A pane just shown still has the size OpenSeadragon measured while it was hidden.
  function syncSize(viewer) {
    var size = new OpenSeadragon.Point(viewer.container.clientWidth, viewer.container.clientHeight);
    if (size.x && size.y && !size.equals(viewer.viewport.getContainerSize())) viewer.viewport.resize(size, true);
  }

  // The same place of the same world at the same screen scale, in a pane of another size.
  function copyView(from, to) {
    syncSize(from);
    syncSize(to);
    var ratio = from.viewport.getContainerSize().x / (to.viewport.getContainerSize().x || 1);
    to.viewport.zoomTo(from.viewport.getZoom() * (ratio || 1), null, true);
    to.viewport.panTo(from.viewport.getCenter(), true);
  }

  function overlayLabel(view, text) {
    var label = view.root.querySelector(".overlay-label");
    if (label) label.textContent = label.dataset[text] || text;
  }

  // Swipe: Right shown right of the line, at the line's place on screen (the clip is in Right's pixels).
  function swipe(view) {
    var top = view.top;
    if (!top) return;
    var at = Number(view.root.querySelector("#swipe-position").value) / 100;
    var bounds = view.overlay.viewport.getBounds(true);
    var all = union(view.align).union(bounds);
    var x = bounds.x + at * bounds.width;
    var corners = [[x, all.y], [all.x + all.width, all.y], [x, all.y + all.height], [all.x + all.width, all.y + all.height]];
    var size = top.source.dimensions;
    var raw = boxOf(corners.map(function (c) {
      var p = leftToRight(view.align, new OpenSeadragon.Point(c[0], c[1]));
      return [p.x * size.x, p.y / view.align.aspectR * size.y];
    }));
    top.setClip(new OpenSeadragon.Rect(raw[0], raw[1], raw[2] - raw[0], raw[3] - raw[1]));
  }

  function applyMode(view, mode) {
    var previous = view.mode;
    clearInterval(view.timer);
    view.mode = mode;
    view.box.dataset.mode = mode;
    view.root.querySelectorAll("[data-mode]").forEach(function (button) {
      button.classList.toggle("active", button.dataset.mode === mode);
    });
    view.root.querySelector(".swipe-control").hidden = mode !== "swipe";
    view.root.querySelector(".flicker-control").hidden = mode !== "flicker";
    // The overlay keeps the place the reviewer was looking at, and gives it back.
    if (previous === "side" && mode !== "side") copyView(view.left, view.overlay);
    if (previous !== "side" && mode === "side") copyView(view.overlay, view.left);
    var top = view.top;
    if (top) {
      top.setClip(null);
      top.setOpacity(1);
      top.setCompositeOperation(mode === "difference" ? "difference" : null);
    }
    overlayLabel(view, mode === "difference" ? "difference" : mode === "swipe" ? "swipe" : "right");
    if (mode === "swipe") {
      swipe(view);
    } else if (mode === "flicker" && top) {
      view.shownB = true;
      var every = Number(view.root.querySelector("#flicker-rate").value) || 500;
      if (!view.manual) view.timer = setInterval(function () { showB(view, !view.shownB); }, every);
    }
    view.manual = false;
    window.dispatchEvent(new Event("resize"));
  }

  function showB(view, shown) {
    view.shownB = shown;
    if (view.top) view.top.setOpacity(shown ? 1 : 0);
    overlayLabel(view, shown ? "right" : "left");
    view.box.dataset.shown = shown ? "right" : "left";
  }

  // The A/B key: the other picture, by hand (the timed flicker stops).
  function toggleAB(view) {
    if (view.mode !== "flicker") {
      view.manual = true;
      applyMode(view, "flicker");
    }
    clearInterval(view.timer);
    showB(view, !view.shownB);
  }

  // --- the next item: prepared while this one is looked at, shown at the decision ------------------

  function itemRoot() { return document.getElementById("review-item"); }

  function nextUrl(root) {
    var head = root.querySelector(".item-head");
    return head && head.dataset.next ? head.dataset.next : "";
  }

  // The prepared item lives in the shadow tree of an off-screen host: laid out (with the page's own
  // stylesheets) so its viewers open at their real size and load, yet out of the document's reach:
  // document.querySelector(".item-head"), getElementById("viewer")… find only the item on screen.
  function prepare(url) {
    if (!PREFETCH || !url || (prepared && prepared.url === url)) return;
    dropPrepared();
    var slot = { url: url, host: null, node: null, view: null, doc: null };
    prepared = slot;
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html || prepared !== slot) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("review-item");
        if (!next) return;
        var host = document.createElement("div");
        host.className = "review-prepared";
        host.setAttribute("aria-hidden", "true");
        host.inert = true;
        host.style.width = itemRoot().getBoundingClientRect().width + "px";
        // Closed: not even a test's selectors that look into open shadow trees (Playwright's) find it.
        var shadow = host.attachShadow({ mode: "closed" });
        var sheets = Array.prototype.map.call(document.querySelectorAll("link[rel=stylesheet]"), function (link) {
          var copy = shadow.appendChild(link.cloneNode()); // already loaded by this page: from the cache
          return new Promise(function (resolve) {
            copy.addEventListener("load", resolve);
            copy.addEventListener("error", resolve);
          });
        });
        var node = document.createElement("div");
        node.replaceChildren.apply(node, Array.prototype.slice.call(document.adoptNode(next).childNodes));
        shadow.appendChild(node);
        document.body.appendChild(host);
        slot.doc = doc;
        slot.host = host;
        slot.node = node;
        return Promise.all(sheets).then(function () {
          // Laid out as it will be shown: the viewers open now (previews and the first tiles load).
          if (prepared === slot) slot.view = build(node);
        });
      })
      .catch(function () { /* preparing is only a head start */ });
  }

  function dropPrepared() {
    if (!prepared) return;
    teardown(prepared.view);
    if (prepared.host) prepared.host.remove();
    prepared = null;
  }

  function samePath(a, b) {
    var x = new URL(a, location.href), y = new URL(b, location.href);
    return x.pathname === y.pathname;
  }

  function showMessages(doc) {
    var main = document.querySelector("main");
    main.querySelectorAll(":scope > .message").forEach(function (node) { node.remove(); });
    var found = doc ? doc.querySelectorAll("main > .message") : [];
    for (var i = found.length - 1; i >= 0; i--) main.prepend(document.adoptNode(found[i]));
  }

  // Put an item on screen: its markup (moved, with its viewers, from the prepared slot) or new markup.
  function present(root, node, view, doc, url, push, guessed) {
    teardown(current && current.view);
    root.replaceChildren.apply(root, Array.prototype.slice.call(node.childNodes));
    if (view) view.root = root;
    current = { root: root, view: view || build(root) };
    if (doc) document.title = doc.title;
    if (push) history.pushState({ review: true }, "", url);
    afterShown(current, guessed);
  }

  // Once the server has answered for the item already on screen: its fresh markup (the decision
  // buttons of a leased item, messages), keeping the viewers that are already drawn.
  function reconcile(doc) {
    var fresh = doc.getElementById("review-item");
    var root = current.root;
    ["#viewer", ".viewer-bar", "#viewer-config"].forEach(function (selector) {
      var live = root.querySelector(selector), stale = fresh.querySelector(selector);
      if (live && stale) stale.replaceWith(live);
    });
    root.replaceChildren.apply(root, Array.prototype.slice.call(fresh.childNodes));
    showMessages(doc);
    document.title = doc.title;
    prepare(nextUrl(root)); // the prediction of the prepared page was made before this decision
  }

  function swapIn(html, url, push) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var next = doc.getElementById("review-item");
    if (!next) {
      // The queue page (queue empty) or an error page: show it whole.
      teardown(current && current.view);
      current = null;
      dropPrepared();
      document.title = doc.title;
      document.body.replaceWith(document.adoptNode(doc.body));
      if (push) history.pushState({ review: true }, "", url);
      return;
    }
    showMessages(doc);
    present(itemRoot(), next, null, doc, url, push);
  }

  function afterShown(item, guessed) {
    var started = performance.getEntriesByName("mc-decision").length > 0;
    if (item.view && started) {
      var measure = function () {
        requestAnimationFrame(function () {
          if (!performance.getEntriesByName("mc-decision").length) return; // another submit since
          performance.measure("mc-next-pair", "mc-decision");
          performance.clearMarks("mc-decision");
          document.body.dataset.nextPair = String(performance.getEntriesByName("mc-next-pair").length);
        });
      };
      if (item.view.loaded) measure();
      else item.root.addEventListener("mc:loaded", measure, { once: true });
    }
    if (!guessed) prepare(nextUrl(item.root));
  }

  function navigate(url, push) {
    busy = true;
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.text().then(function (html) { swapIn(html, response.url, push); }); })
      .catch(function () { window.location.href = url; })
      .finally(function () { busy = false; });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest("#review-item") || form.method.toLowerCase() !== "post") return;
    if (form.dataset.plain !== undefined) return;
    event.preventDefault();
    if (busy) return;
    busy = true;
    var body = new FormData(form, event.submitter || undefined);
    var deciding = form.id === "decision-form";
    var guess = null;
    performance.clearMarks("mc-decision");
    if (deciding) performance.mark("mc-decision");
    if (deciding && prepared && prepared.view && body.get("decision")) {
      // Shown at once; the decision's answer confirms it (or replaces it).
      guess = prepared;
      prepared = null;
      guess.host.remove();
      showMessages(null);
      present(itemRoot(), guess.node, guess.view, guess.doc, guess.url, true, true);
    }
    fetch(form.action, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (html) {
          if (guess && samePath(response.url, guess.url)) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            if (doc.getElementById("review-item")) {
              reconcile(doc);
              history.replaceState({ review: true }, "", response.url);
              return;
            }
          }
          // The guess was wrong (or the decision refused): a key pressed meanwhile was for a pair
          // that is no longer on screen, so it is dropped.
          if (guess) queued = null;
          swapIn(html, response.url, !guess);
          if (guess) history.replaceState({ review: true }, "", response.url);
        });
      })
      .catch(function () { form.submit(); })
      .finally(function () {
        busy = false;
        var key = queued;
        queued = null;
        if (key) pressed(key);
      });
  });

  function pressed(key) {
    var root = itemRoot();
    var button = root && Array.prototype.find.call(root.querySelectorAll("button[data-keys]"), function (candidate) {
      return candidate.dataset.keys.split(" ").indexOf(key) !== -1;
    });
    if (button) button.form.requestSubmit(button);
  }

  var MODES = { v: "side", w: "swipe", f: "flicker", d: "difference" };

  function toggleHelp() {
    var help = document.getElementById("keys-help");
    if (!help) return;
    if (help.open) help.close();
    else help.showModal();
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-keys-help]")) toggleHelp();
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var help = document.getElementById("keys-help");
    if (event.key === "?" && !(target.matches && target.matches("input[type=text], textarea"))) {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (help && help.open) return;
    if (target.matches && target.matches("input, textarea, select")) {
      // Enter in the comment must not submit the first button (keep left) by accident.
      if (event.key === "Enter" && target.id === "decision-comment") event.preventDefault();
      if (event.key === "Escape" || event.key === "Enter") target.blur();
      return;
    }
    var root = itemRoot();
    if (event.ctrlKey || event.metaKey || event.altKey || !root) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    var button = Array.prototype.find.call(root.querySelectorAll("button[data-keys]"), function (candidate) {
      return candidate.dataset.keys.split(" ").indexOf(key) !== -1;
    });
    var view = current && current.view;
    if (button) {
      event.preventDefault();
      // A key pressed while the last decision is still being confirmed is for the pair on screen:
      // it is kept and applied once the server has answered.
      if (busy) queued = key;
      else button.form.requestSubmit(button);
    } else if (MODES[key] && view) {
      applyMode(view, MODES[key]);
    } else if (key === "t" && view) {
      toggleAB(view);
    } else if (key === "l" && view) {
      toggleLink(view);
    } else if (key === "c") {
      var comment = root.querySelector("#decision-comment, textarea[name=comment]");
      if (comment) { event.preventDefault(); comment.focus(); }
    } else if ((key === "+" || key === "=") && view) {
      zoom(view, "in");
    } else if (key === "-" && view) {
      zoom(view, "out");
    } else if (key === "0" && view) {
      zoom(view, "home");
    } else if (key === "1" && view) {
      zoom(view, "actual");
    }
  });

  // Back and Forward move between the pairs shown, as they are now (a decided pair says so; an
  // open one can be decided).
  window.addEventListener("popstate", function () {
    if (itemRoot()) navigate(location.href, false);
    else window.location.reload();
  });

  // For the browser tests and the bench: the viewers of the item on screen.
  window.mastercopyReview = {
    view: function () { return current && current.view; },
    prepared: function () { return Boolean(prepared && prepared.view && prepared.view.loaded); },
    preparedItem: function () {
      var head = prepared && prepared.node && prepared.node.querySelector(".item-head");
      return head ? head.dataset.item : null;
    },
  };

  var root = itemRoot();
  if (root) {
    history.replaceState({ review: true }, "", location.href);
    current = { root: root, view: build(root) };
    afterShown(current);
  }
})();
