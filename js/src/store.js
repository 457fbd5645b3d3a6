// The browser's own state, in IndexedDB: its session (its user JWT and seed, never
// another device's or the account's) and a sign-in in progress.
const DB = "natster";
const STORE = "kv";

function opened() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run(mode, work) {
  const db = await opened();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const load = (key) => run("readonly", (s) => s.get(key));
export const save = (key, value) => run("readwrite", (s) => s.put(value, key));
export const forget = (key) => run("readwrite", (s) => s.delete(key));
