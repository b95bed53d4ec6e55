// Supervisor pages: buttons marked data-confirm ask before their form is submitted (no inline handlers: CSP).
document.querySelectorAll("button[data-confirm]").forEach(function (button) {
  button.addEventListener("click", function (event) {
    if (!window.confirm(button.dataset.confirm)) event.preventDefault();
  });
});
