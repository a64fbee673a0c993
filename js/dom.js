// Small DOM helpers shared by the view's modules.

/** `h("button", {text: "Undo", onclick}, [children])`: an element with attributes, listeners, children. */
export function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** Whether JupyterLab shows a dark theme (outside JupyterLab: light). */
export function isDarkTheme() {
  return document.body?.dataset?.jpThemeLight === "false";
}
