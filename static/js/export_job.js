// The bulk export page: polls the progress until the job is finished, then reloads.
(function () {
  var page = document.getElementById("export-job");
  if (page.dataset.finished) return;
  function poll() {
    fetch(page.dataset.progressUrl, {credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (data) {
        document.getElementById("job-progress").value = data.percent;
        document.getElementById("job-status").textContent = data.status_label;
        document.getElementById("job-counts").textContent =
          "已完成 " + data.done + " / " + data.total + (data.failed ? "，失败 " + data.failed : "");
        document.getElementById("job-error").textContent = data.error;
        document.getElementById("job-stuck-count").textContent = data.stuck;
        document.getElementById("job-stuck").hidden = !data.stuck;
        if (data.finished) { window.location.reload(); } else { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
