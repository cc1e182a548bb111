// Polls an import job's status route and moves the progress bar until the job is done or failed.
(function () {
  const box = document.getElementById("import-job");
  if (!box) return;
  const bar = document.getElementById("import-progress");
  const state = document.getElementById("import-state");
  const count = document.getElementById("import-count");
  const errors = document.getElementById("import-errors");
  const labels = JSON.parse(box.dataset.labels || "{}"); // status names in the page's language
  async function poll() {
    const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (!response.ok) return setTimeout(poll, 2000);
    const job = await response.json();
    bar.max = job.total || 1;
    bar.value = job.done;
    state.textContent = labels[job.status] || job.status;
    state.dataset.state = job.status;
    count.textContent = job.done + " / " + job.total;
    errors.replaceChildren(...job.errors.map((e) => Object.assign(document.createElement("li"), { textContent: e })));
    if (job.status === "queued" || job.status === "running") setTimeout(poll, 700);
  }
  poll();
})();
