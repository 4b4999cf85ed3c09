// Small DOM helpers shared by the pages: build elements without innerHTML, so data from the API is always
// text, never markup.

/**
 * Create an element. `attributes` are set as properties when the element has one (className, hidden, value,
 * type...), else as attributes; `on*` functions become listeners. Children are nodes or text.
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (name in node && !name.includes('-')) {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(node, ...children);
  return node;
}

/** Append nodes or text, from arrays nested to any depth (null and undefined are skipped). */
export function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Remove every child, then append the given ones. */
export function replaceChildren(node, ...children) {
  node.replaceChildren();
  return append(node, ...children);
}

/** Initials of a name, for avatars without a picture. */
export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?';
}
