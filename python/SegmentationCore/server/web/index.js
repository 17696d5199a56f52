// Start page: which models and roots this server uses.
"use strict";

(async () => {
	const info = await Tools.showModels(Tools.$("#models"));
	if (info) Tools.$("#roots").textContent = `Plates: ${info.plates_root} · Output: ${info.output_root} · version ${info.version}`;
})();
