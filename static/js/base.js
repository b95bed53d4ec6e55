// Every page: selects marked data-autosubmit submit their form on change (no inline handlers: CSP).
document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
  select.addEventListener("change", function () {
    // Back to the page as it is now: the review screen moves to the next item without a reload.
    var next = select.form.querySelector("input[name=next]");
    if (next) next.value = window.location.pathname + window.location.search;
    select.form.submit();
  });
});
