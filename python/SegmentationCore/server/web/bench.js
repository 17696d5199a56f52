// Prompt test bench: stage 1 boxes and the stage 2 clean-up on one frame.
"use strict";

(() => {
	const { api, $, element, Status, Viewer, tintedMask, drawLabel, loadShots, showModels, copyText, debounce, readHash, writeHash, frameUrl } = Tools;

	const SETTINGS = ["box_threshold", "text_threshold", "discard_sim", "discard_min_others", "merge_sim"];
	const DECISION_COLOURS = { kept: "#35c46a", merged: "#f0a030", discarded: "#ff4d4d", empty: "#888888" };
	const OUTPUT_COLOURS = ["#4a9eff", "#35c46a", "#f58231", "#f032e6", "#42d4f4", "#bfef45", "#911eb4", "#e6194b", "#469990", "#9a6324"];

	const state = {
		shots: [],
		shot: null,
		frames: [],
		index: 0,
		defaults: null,
		result: null,
		tinted: { inputs: [], outputs: [] },
		hover: null,
		ran: false,
		request: 0,
		frameRequest: 0,
	};

	const viewer = new Viewer($("#view"));
	const status = new Status($("#status"), $("#busy"));

	function settings() {
		const values = {};
		for (const name of SETTINGS) values[name] = Number($(`#${name}`).value);
		return values;
	}

	function applySettings(values) {
		for (const name of SETTINGS) if (values[name] !== undefined) $(`#${name}`).value = values[name];
		showSettingValues();
	}

	function showSettingValues() {
		for (const name of SETTINGS) {
			const value = Number($(`#${name}`).value);
			$(`#${name}-value`).textContent = name === "discard_min_others" ? `${value} others` : value.toFixed(2);
		}
	}

	function currentFrame() {
		return state.frames[state.index];
	}

	function remember() {
		writeHash({ shot: state.shot, frame: currentFrame(), prompt: $("#prompt").value, ...settings() });
	}

	async function selectShot(shotId, frame) {
		state.shot = shotId;
		const shot = state.shots.find((s) => s.id === shotId);
		state.frames = shot ? shot.frames : [];
		const slider = $("#frame-slider");
		slider.max = Math.max(0, state.frames.length - 1);
		const wanted = state.frames.indexOf(Number(frame));
		await selectFrame(wanted >= 0 ? wanted : 0);
	}

	async function selectFrame(index) {
		if (!state.frames.length) return;
		state.index = Math.max(0, Math.min(state.frames.length - 1, index));
		$("#frame-slider").value = state.index;
		$("#frame").value = currentFrame();
		state.result = null;
		state.tinted = { inputs: [], outputs: [] };
		renderTable();
		remember();
		const request = ++state.frameRequest;
		try {
			const image = await status.busy("loading frame", () => Tools.loadImage(frameUrl(state.shot, currentFrame())));
			if (request !== state.frameRequest) return;  // a later frame was picked meanwhile
			viewer.setImage(image);
			if (state.ran) await run();
		} catch (error) {
			status.error(error);
		}
	}

	async function run() {
		const prompt = $("#prompt").value.trim();
		if (!prompt) {
			status.error(new Error("Type a prompt first, e.g. person"));
			return;
		}
		const request = ++state.request;
		const body = { shot: state.shot, frame: currentFrame(), prompt, ...settings() };
		remember();
		try {
			const result = await status.busy("running stage 1 + 2", () => api("/api/stage2", body));
			if (request !== state.request) return;
			const tinted = {
				inputs: await Promise.all(result.inputs.map((item) => tintedMask(item.mask, DECISION_COLOURS[item.action] || "#ffffff"))),
				outputs: await Promise.all(result.outputs.map((item, k) => tintedMask(item.mask, OUTPUT_COLOURS[k % OUTPUT_COLOURS.length]))),
				highlight: await Promise.all(result.inputs.map((item) => tintedMask(item.mask, "#ffffff"))),
			};
			if (request !== state.request) return;
			state.ran = true;
			state.result = result;
			state.tinted = tinted;
			const summary = result.summary || {};
			const parts = Object.entries(summary).map(([k, v]) => `${v} ${k}`);
			status.info(`Frame ${result.frame}: ${result.inputs.length} boxes (${parts.join(", ") || "none"}) → ${result.outputs.length} masks · ${result.seconds.toFixed(2)} s`);
			renderTable();
			viewer.redraw();
			updateSettingsText();
		} catch (error) {
			if (request === state.request) status.error(error);
		}
	}

	function renderTable() {
		const body = $("#detections tbody");
		body.innerHTML = "";
		const result = state.result;
		$("#counts").textContent = result ? `(${result.inputs.length})` : "";
		if (!result) return;
		result.inputs.forEach((item, i) => {
			const row = element("tr", { dataset: { index: i } },
				element("td", { text: item.index }),
				element("td", { text: item.label }),
				element("td", { text: item.score.toFixed(2) }),
				element("td", {},
					element("span", { class: `decision ${item.action}`, text: item.action }),
					element("div", { class: "small muted", text: item.reason })));
			row.addEventListener("mouseenter", () => { state.hover = i; row.classList.add("hover"); viewer.redraw(); });
			row.addEventListener("mouseleave", () => { state.hover = null; row.classList.remove("hover"); viewer.redraw(); });
			body.append(row);
		});
	}

	viewer.drawOverlay = (context) => {
		const result = state.result;
		if (!result) return;
		const scale = viewer.scale;
		if ($("#show-discarded").checked) {
			context.globalAlpha = 0.75;
			result.inputs.forEach((item, i) => {
				if (item.action !== "kept" && state.tinted.inputs[i]) context.drawImage(state.tinted.inputs[i], 0, 0);
			});
			context.globalAlpha = 1;
		}
		if ($("#show-kept").checked) {
			context.globalAlpha = 0.85;
			state.tinted.outputs.forEach((canvas) => context.drawImage(canvas, 0, 0));
			context.globalAlpha = 1;
		}
		if (state.hover !== null && state.tinted.highlight && state.tinted.highlight[state.hover]) {
			context.drawImage(state.tinted.highlight[state.hover], 0, 0);
		}
		if ($("#show-boxes").checked) {
			result.inputs.forEach((item, i) => {
				const [x0, y0, x1, y1] = item.box;
				const colour = DECISION_COLOURS[item.action] || "#ffffff";
				context.save();
				context.strokeStyle = colour;
				context.lineWidth = (state.hover === i ? 3.5 : 2) * scale;
				context.setLineDash(item.action === "kept" ? [] : [6 * scale, 4 * scale]);
				context.strokeRect(x0, y0, x1 - x0, y1 - y0);
				context.restore();
				drawLabel(context, `${item.index} ${item.label} ${item.score.toFixed(2)}`, x0, y0, colour, scale);
			});
		}
	};

	async function updateSettingsText() {
		const prompt = $("#prompt").value.trim() || "person";
		try {
			const data = await api("/api/settings", { shot: state.shot, prompt, ...settings() });
			$("#settings-cli").value = data.autoseg;
			$("#settings-gaffer").value = JSON.stringify(data.gaffer, null, 2);
		} catch (error) {
			status.error(error);
		}
	}

	const rerun = debounce(() => { if (state.ran) run(); else updateSettingsText(); }, 120);

	async function init() {
		const info = await showModels($("#models"));
		state.defaults = info ? info.defaults : null;
		const hash = readHash();
		if (state.defaults) applySettings(state.defaults);
		applySettings(hash);
		if (hash.prompt) $("#prompt").value = hash.prompt;
		state.shots = (await loadShots($("#shot"), hash.shot, status)) || [];
		if (!state.shots.length) return;
		await selectShot($("#shot").value, hash.frame);
		updateSettingsText();
	}

	$("#shot").addEventListener("change", () => selectShot($("#shot").value));
	$("#frame-slider").addEventListener("input", debounce(() => selectFrame(Number($("#frame-slider").value)), 80));
	$("#frame").addEventListener("change", () => {
		const index = state.frames.indexOf(Number($("#frame").value));
		if (index >= 0) selectFrame(index);
		else status.error(new Error(`Frame ${$("#frame").value} is not in this shot`));
	});
	$("#prev-frame").addEventListener("click", () => selectFrame(state.index - 1));
	$("#next-frame").addEventListener("click", () => selectFrame(state.index + 1));
	$("#run").addEventListener("click", run);
	$("#prompt").addEventListener("keydown", (event) => { if (event.key === "Enter") run(); });
	for (const name of SETTINGS) {
		$(`#${name}`).addEventListener("input", () => { showSettingValues(); rerun(); });
	}
	$("#reset").addEventListener("click", () => { if (state.defaults) { applySettings(state.defaults); rerun(); } });
	for (const id of ["#show-boxes", "#show-kept", "#show-discarded"]) $(id).addEventListener("change", () => viewer.redraw());
	$("#copy-cli").addEventListener("click", async () => {
		await updateSettingsText();
		const ok = await copyText($("#settings-cli").value, $("#settings-cli"));
		$("#copied").textContent = ok ? "autoseg arguments copied" : "select the text and copy it";
	});
	$("#copy-gaffer").addEventListener("click", async () => {
		await updateSettingsText();
		const ok = await copyText($("#settings-gaffer").value, $("#settings-gaffer"));
		$("#copied").textContent = ok ? "Gaffer plug values copied" : "select the text and copy it";
	});
	document.addEventListener("keydown", (event) => {
		if (event.target.matches("input, textarea, select")) return;
		if (event.key === "ArrowLeft") { selectFrame(state.index - 1); event.preventDefault(); }
		if (event.key === "ArrowRight") { selectFrame(state.index + 1); event.preventDefault(); }
	});
	window.addEventListener("resize", () => { viewer.fit(); viewer.redraw(); });

	init();
})();
