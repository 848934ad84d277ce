// live-page.js: what the demo's two list pages share. keyedRenderer() draws a live collection's
// snapshots into a container, one element per item, kept by key: made once, updated in place and
// moved only when the order changes, so a field being edited keeps its focus; an item that
// changed after the first load is flashed. editInPlace() saves a list's forms with fetch().

export function keyedRenderer(container, { key = (item) => String(item.id), make, update }) {
  const elements = new Map(); // key -> element
  const shown = new Map(); // key -> the item it shows
  // The server rendered the first list: adopt its elements (data-key) until the load replaces them.
  for (const element of container.children) if (element.dataset.key) elements.set(element.dataset.key, element);
  let loaded = false;

  return function render({ items, isLoading }) {
    if (isLoading && !loaded) return; // keep the server-rendered list until the first load
    const keep = new Set();
    items.forEach((item, index) => {
      const k = key(item);
      keep.add(k);
      let element = elements.get(k);
      if (!element) {
        element = make(item);
        element.dataset.key = k;
        elements.set(k, element);
      }
      const before = shown.get(k);
      if (before !== item) {
        update(element, item);
        shown.set(k, item);
        if (loaded && (before === undefined || before.version !== item.version)) flash(element);
      }
      if (container.children[index] !== element) container.insertBefore(element, container.children[index] ?? null);
    });
    for (const [k, element] of elements) {
      if (!keep.has(k)) {
        element.remove();
        elements.delete(k);
        shown.delete(k);
      }
    }
    if (!isLoading) loaded = true;
  };
}

function flash(element) {
  element.classList.remove("changed");
  void element.offsetWidth; // restart the animation
  element.classList.add("changed");
  element.addEventListener("animationend", () => element.classList.remove("changed"), { once: true });
}

/** POST a form with fetch(); the change shows when its push comes back, here as everywhere. */
export async function post(form, extra = {}) {
  const body = new FormData(form);
  for (const [name, value] of Object.entries(extra)) body.set(name, value);
  const response = await fetch(form.action, { method: "POST", body, headers: { Accept: "application/json" } });
  if (!response.ok) alert(`Could not save (${response.status})`);
}

/** In `container`: a `form.edit` saves when one of its fields changes (a tick at once, a title
 * when it is left or Enter is pressed); a `form.delete` deletes. */
export function editInPlace(container) {
  container.addEventListener("change", (event) => {
    const form = event.target.form;
    if (form?.classList.contains("edit") && form.checkValidity()) post(form);
  });
  container.addEventListener("submit", (event) => {
    event.preventDefault();
    if (event.target.classList.contains("delete")) post(event.target, { delete: "1" });
    else event.target.querySelector("input[name=title]")?.blur(); // its change event saves it
  });
}

/** A form that adds an item: posted with fetch(), then emptied; the push shows the new item. */
export function addWith(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await post(form);
    form.reset();
  });
}
