// Names that come from files and callers (checkpoint and state-dict keys) are
// data. Only own properties answer a lookup, so 'constructor' or 'toString'
// is never found on Object.prototype; and a '__proto__' key is written as a
// key, where a plain assignment would replace the object's prototype.

/** `obj[key]` when `obj` has `key` as an own property, else undefined. */
export function ownValue(obj: object, key: string): unknown {
  return Object.hasOwn(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

/** Sets `obj[key]` as an own enumerable property, as an object literal or JSON.parse would. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}
