// Loads the console's WebAssembly bundle. A file, not an inline script, so
// the backend's Content-Security-Policy can forbid inline scripts.
import init from "/giponext-console.js";

init({ module_or_path: "/giponext-console_bg.wasm" }).catch((error) => {
    console.error("GipoNext Connect failed to start", error);
    document.body.textContent =
        "GipoNext Connect non è riuscito ad avviarsi. Ricarica la pagina. / GipoNext Connect failed to start. Reload the page.";
});
