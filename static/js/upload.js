// Sends the upload with XMLHttpRequest so the page can show a progress bar, then opens the upload's page,
// where the worker's unpacking and importing shows as it goes (upload_job.js).
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const error = document.getElementById("upload-error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    request.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    error.hidden = true;
    form.querySelector("button[type=submit]").disabled = true;
    request.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    };
    request.upload.onload = function () { status.textContent = form.dataset.checking || "…"; };
    request.onload = function () {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (e) { body = { error: request.statusText }; }
      if (body.redirect) { window.location.href = body.redirect; return; }
      error.textContent = body.error || request.statusText;
      error.hidden = false;
      form.querySelector("button[type=submit]").disabled = false;
    };
    request.onerror = function () {
      error.textContent = "Network error";
      error.hidden = false;
      form.querySelector("button[type=submit]").disabled = false;
    };
    request.send(new FormData(form));
  });
})();
