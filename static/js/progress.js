// Refreshes the collection's processing progress every two seconds while images are waiting.
(function () {
  function poll() {
    const box = document.getElementById("progress");
    if (!box || box.dataset.pending === "0") return;
    fetch(box.dataset.url, { headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) { box.outerHTML = html; setTimeout(poll, 2000); })
      .catch(function () { setTimeout(poll, 10000); });
  }
  setTimeout(poll, 2000);
})();
