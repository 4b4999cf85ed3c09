// A form generated from a tool's input schema (JSON Schema): strings, numbers and integers as inputs, booleans
// as checkboxes, enums as selects, arrays, objects and anything else as JSON text areas. Required fields are
// marked, defaults filled in; `read()` returns the arguments or throws a message naming the field.

import { el } from './dom.js';

function kindOf(schema) {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return 'enum';
  const type = Array.isArray(schema.type) ? schema.type.filter((t) => t !== 'null') : [schema.type];
  if (type.length !== 1) return 'json';
  switch (type[0]) {
    case 'string': return 'string';
    case 'integer': return 'integer';
    case 'number': return 'number';
    case 'boolean': return 'boolean';
    default: return 'json';
  }
}

function fieldFor(name, schema, required) {
  const id = `field-${name}`;
  const kind = kindOf(schema);
  const hasDefault = Object.prototype.hasOwnProperty.call(schema, 'default');
  const label = el('label', { htmlFor: id }, schema.title || name, required ? el('span', { className: 'required', title: 'required' }, ' *') : null);
  const help = schema.description ? el('small', { className: 'muted' }, schema.description) : null;
  let input;
  let read;
  switch (kind) {
    case 'enum': {
      input = el('select', { id, name, required },
        required ? null : el('option', { value: '' }, '(not set)'),
        schema.enum.map((value, i) => el('option', { value: String(i) }, JSON.stringify(value).replace(/^"|"$/g, ''))));
      const defaultIndex = hasDefault ? schema.enum.findIndex((v) => JSON.stringify(v) === JSON.stringify(schema.default)) : -1;
      if (defaultIndex >= 0) input.value = String(defaultIndex);
      read = () => (input.value === '' ? undefined : schema.enum[Number(input.value)]);
      break;
    }
    case 'boolean': {
      input = el('input', { id, name, type: 'checkbox', checked: hasDefault && schema.default === true });
      let touched = hasDefault || required;
      input.addEventListener('change', () => { touched = true; });
      read = () => (touched ? input.checked : undefined);
      break;
    }
    case 'integer':
    case 'number': {
      input = el('input', {
        id, name, type: 'number', inputMode: kind === 'integer' ? 'numeric' : 'decimal',
        step: kind === 'integer' ? '1' : 'any', min: schema.minimum, max: schema.maximum, required,
        value: hasDefault ? String(schema.default) : undefined,
      });
      read = () => {
        const text = input.value.trim();
        if (text === '') return undefined;
        const value = Number(text);
        if (!Number.isFinite(value) || (kind === 'integer' && !Number.isInteger(value))) {
          throw new Error(`${name}: enter ${kind === 'integer' ? 'a whole number' : 'a number'}`);
        }
        return value;
      };
      break;
    }
    case 'string': {
      const long = (schema.maxLength || 0) > 200 || schema.format === 'textarea';
      input = el(long ? 'textarea' : 'input', {
        id, name, type: long ? undefined : 'text', required, maxLength: schema.maxLength,
        placeholder: schema.examples ? String(schema.examples[0]) : undefined,
        value: hasDefault ? String(schema.default) : undefined,
      });
      read = () => (input.value === '' ? undefined : input.value);
      break;
    }
    default: {
      input = el('textarea', {
        id, name, required, spellcheck: false,
        placeholder: schema.type === 'array' ? '[ ]' : '{ }',
        value: hasDefault ? JSON.stringify(schema.default, null, 2) : '',
      });
      read = () => {
        const text = input.value.trim();
        if (text === '') return undefined;
        try {
          return JSON.parse(text);
        } catch (error) {
          throw new Error(`${name}: not valid JSON (${error.message})`);
        }
      };
    }
  }
  const wrapper = el('div', { className: `field field-${kind}` }, label, input, help);
  return {
    element: wrapper,
    read: () => {
      const value = read();
      if (value === undefined && required) throw new Error(`${name} is required`);
      return value;
    },
  };
}

/** Build the fields of `schema` (an object schema); `read()` returns the arguments object. */
export function buildForm(schema) {
  const properties = (schema && typeof schema.properties === 'object' && schema.properties) || {};
  const required = new Set(Array.isArray(schema?.required) ? schema.required : []);
  const fields = Object.entries(properties).map(([name, property]) => [name, fieldFor(name, property || {}, required.has(name))]);
  const elements = fields.map(([, field]) => field.element);
  if (elements.length === 0) elements.push(el('p', { className: 'muted' }, 'This tool takes no arguments.'));
  return {
    elements,
    read() {
      const args = {};
      for (const [name, field] of fields) {
        const value = field.read();
        if (value !== undefined) args[name] = value;
      }
      return args;
    },
  };
}
