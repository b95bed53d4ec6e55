// The group screen by keyboard: j/k (or arrows) move between members, m makes the member the master,
// d/r/n mark it duplicate/related/not related, a marks every unmarked member duplicate, Enter
// submits, u undoes the last submit.
(function () {
  "use strict";
  var form = document.getElementById("group-form");
  var members = form ? Array.prototype.slice.call(form.querySelectorAll("li.member")) : [];
  var current = 0;
  var MARKS = { d: "duplicate", r: "related", n: "distinct" };

  function masterOf() {
    var checked = form.querySelector('input[name="master"]:checked');
    return checked ? checked.value : "";
  }

  function refresh() {
    var master = masterOf();
    members.forEach(function (li, index) {
      var isMaster = li.dataset.member === master;
      li.classList.toggle("chosen-master", isMaster);
      li.classList.toggle("current", index === current);
      li.querySelectorAll('input[name^="mark-"]').forEach(function (input) {
        input.disabled = isMaster;
        if (isMaster) input.checked = false;
      });
    });
  }

  function focus(index) {
    if (!members.length) return;
    current = (index + members.length) % members.length;
    members[current].focus();
    refresh();
  }

  // The first mark leases the group's pairs (the GET only read them), so that nobody takes one on the
  // pair screen while the marks are made; a refusal is said at once, not after the last mark.
  var holding = null;
  function hold() {
    if (holding || !form || !form.dataset.hold) return;
    var body = new FormData();
    body.append("csrfmiddlewaretoken", form.querySelector('input[name="csrfmiddlewaretoken"]').value);
    body.append("seen", form.querySelector('input[name="seen"]').value);
    holding = fetch(form.dataset.hold, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        var notice = document.getElementById("group-hold");
        if (!answer.held && notice) {
          notice.textContent = answer.message;
          notice.hidden = false;
        }
        form.dataset.held = answer.held ? "yes" : "no";
      })
      .catch(function () { holding = null; });
  }

  function mark(li, value) {
    var input = li.querySelector('input[name="mark-' + li.dataset.member + '"][value="' + value + '"]');
    if (input && !input.disabled) { input.checked = true; hold(); }
  }

  if (form) {
    form.addEventListener("change", function () { hold(); refresh(); });
    members.forEach(function (li, index) {
      li.addEventListener("click", function () { current = index; refresh(); });
    });
    focus(0);
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target.matches && target.matches("input[type=text], textarea, select")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "u") {
      var undo = document.getElementById("group-undo-form");
      if (undo) { event.preventDefault(); undo.submit(); }
      return;
    }
    if (!form) return;
    var li = members[current];
    if (key === "j" || key === "ArrowDown" || key === "ArrowRight") { event.preventDefault(); focus(current + 1); }
    else if (key === "k" || key === "ArrowUp" || key === "ArrowLeft") { event.preventDefault(); focus(current - 1); }
    else if (key === "m") {
      event.preventDefault();
      li.querySelector('input[name="master"]').checked = true;
      hold();
      refresh();
    } else if (MARKS[key]) {
      event.preventDefault();
      mark(li, MARKS[key]);
      focus(current + 1);
    } else if (key === "a") {
      event.preventDefault();
      members.forEach(function (each) {
        if (!each.querySelector('input[name^="mark-"]:checked')) mark(each, "duplicate");
      });
    } else if (key === "Enter") {
      event.preventDefault();
      form.requestSubmit(document.getElementById("group-submit"));
    }
  });
})();
