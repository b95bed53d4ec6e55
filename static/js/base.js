// Every page: selects marked data-autosubmit submit their form on change (no inline handlers: CSP).
document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});
