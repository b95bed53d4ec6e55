// Refreshes an upload's progress every second while the worker imports it; stops once it is finished.
(function () {
  function poll() {
    const box = document.getElementById("upload-job");
    if (!box || box.dataset.finished === "1") return;
    fetch(box.dataset.url, { headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) { box.outerHTML = html; setTimeout(poll, 1000); })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
