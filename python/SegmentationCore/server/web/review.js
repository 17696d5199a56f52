// Review of a finished autoseg run: frames with layers, ranked flags, a
// timeline per layer (present / lost / flagged spans, confidence curve),
// and a jump into the interactive tool on a flagged frame and layer.
"use strict";

(() => {
	const { api, query, $, element, Status, debounce, readHash, writeHash } = Tools;

	const state = { run: null, data: null, frames: [], index: 0, layer: null, flag: null, request: 0 };
	const status = new Status($("#status"), $("#busy"));
	const currentFrame = () => state.frames[state.index];

	function remember() {
		writeHash({ run: state.run, frame: currentFrame(), layer: state.layer });
	}

	async function loadRuns(wanted) {
		const { runs } = await api("/api/review/runs");
		const select = $("#run");
		select.replaceChildren(...runs.map((name) => element("option", { value: name, text: name })));
		if (wanted && runs.includes(wanted)) select.value = wanted;
		return runs;
	}

	async function selectRun(name, frame, layer) {
		state.run = name;
		const data = await status.busy("loading run", () => api(`/api/review/summary?${query({ run: name })}`));
		state.data = data;
		state.frames = data.summary.frames;
		state.layer = layer && data.summary.layers[layer] ? layer : null;
		const flags = data.summary.flags;
		$("#run-info").textContent = `${data.plate} · ${state.frames.length} frames · ${Object.keys(data.summary.layers).length} layers`;
		$("#flag-count").textContent = `(${flags.length})`;
		$("#frame-slider").max = Math.max(0, state.frames.length - 1);
		renderFlags();
		renderLanes();
		const wanted = state.frames.indexOf(Number(frame));
		await selectFrame(wanted >= 0 ? wanted : 0);
	}

	function renderFlags() {
		const list = $("#flags");
		const flags = state.data.summary.flags;
		if (!flags.length) {
			list.replaceChildren(element("li", { class: "none", text: "No flags: nothing looked wrong." }));
			return;
		}
		list.replaceChildren(...flags.map((flag, index) => element("li", {
			class: state.flag === index ? "current" : "",
			dataset: { index, layer: flag.layer, frame: flag.first },
			title: flag.text,
			onclick: () => jumpToFlag(index),
		},
		element("span", { class: "rank", text: flag.rank.toFixed(2) }),
		element("div", { class: "kind", text: flag.kind }),
		element("div", { text: flag.text }))));
	}

	async function jumpToFlag(index) {
		const flag = state.data.summary.flags[index];
		state.flag = index;
		state.layer = flag.layer;
		renderFlags();
		renderLanes();
		await selectFrame(state.frames.indexOf(flag.first));
	}

	function spansOf(layer) {
		const present = layer.present;
		const lost = [];
		for (let i = 1; i < present.length; i++) lost.push([present[i - 1][1] + 1, present[i][0] - 1]);
		return { present, lost };
	}

	function renderLanes() {
		const lanes = $("#lanes");
		const layers = state.data.summary.layers;
		lanes.replaceChildren(...Object.entries(layers).map(([name, layer]) => {
			const canvas = element("canvas", { width: 1000, height: 26 });
			const lane = element("div", {
				class: `lane${name === state.layer ? " current" : ""}`, dataset: { layer: name },
				onclick: (event) => {
					if (event.target !== canvas) { selectLayer(name); return; }
					const box = canvas.getBoundingClientRect();
					const index = Math.round(((event.clientX - box.left) / box.width) * (state.frames.length - 1));
					selectLayer(name, index);
				},
			},
			element("div", { class: "name", title: name }, swatch(state.data.colours[name]), name.split("/").pop()),
			canvas);
			drawLane(canvas, name, layer);
			return lane;
		}));
	}

	// colours through the CSSOM: the page's Content-Security-Policy forbids style attributes
	function swatch(colour) {
		const node = element("span", { class: "sw" });
		node.style.backgroundColor = colour;
		return node;
	}

	function drawLane(canvas, name, layer) {
		const g = canvas.getContext("2d");
		const n = state.frames.length;
		const first = state.frames[0];
		const x = (frame) => ((frame - first) / Math.max(1, n)) * canvas.width;
		const w = canvas.width / Math.max(1, n);
		g.clearRect(0, 0, canvas.width, canvas.height);
		const { present, lost } = spansOf(layer);
		g.fillStyle = state.data.colours[name];
		g.globalAlpha = 0.55;
		for (const [a, b] of present) g.fillRect(x(a), 8, x(b) - x(a) + w, 12);
		g.globalAlpha = 1;
		g.fillStyle = "#555";
		for (const [a, b] of lost) g.fillRect(x(a), 8, x(b) - x(a) + w, 12);
		g.fillStyle = "#ff4d4d";
		for (const flag of state.data.summary.flags) {
			if (flag.layer === name || (flag.others || []).includes(name)) g.fillRect(x(flag.first), 20, x(flag.last) - x(flag.first) + w, 5);
		}
		// confidence curve, 0 at the bottom of the bar, 1 at the top
		g.strokeStyle = "#fff";
		g.lineWidth = 1.5;
		g.beginPath();
		let drawing = false;
		layer.series.confidence.forEach((value, i) => {
			if (value === null) { drawing = false; return; }
			const px = x(state.frames[i]) + w / 2;
			const py = 20 - value * 12;
			if (drawing) g.lineTo(px, py); else g.moveTo(px, py);
			drawing = true;
		});
		g.stroke();
		if (state.frames.length) {
			g.fillStyle = "#4a9eff";
			g.fillRect(x(currentFrame() ?? first), 0, 2, canvas.height);
		}
	}

	async function selectLayer(name, index) {
		state.layer = name;
		state.flag = null;
		renderFlags();
		renderLanes();
		await selectFrame(index === undefined ? state.index : index);
	}

	async function selectFrame(index) {
		if (!state.frames.length) return;
		state.index = Math.max(0, Math.min(state.frames.length - 1, index));
		const frame = currentFrame();
		$("#frame-slider").value = state.index;
		$("#frame").value = frame;
		remember();
		renderLanes();
		describe();
		const request = ++state.request;
		const url = `/api/review/overlay?${query({ run: state.run, frame, ...(state.layer ? { layer: state.layer } : {}) })}`;
		await status.busy("loading frame", () => new Promise((resolve) => {
			const image = $("#view");
			image.onload = () => { if (request === state.request) image.dataset.frame = frame; resolve(); };
			image.onerror = () => { status.error(new Error(`cannot load frame ${frame}`)); resolve(); };
			image.src = url;
		}));
	}

	function describe() {
		const frame = currentFrame();
		const here = state.data.summary.flags.filter((f) => f.first <= frame && frame <= f.last);
		$("#open-interactive").disabled = !(state.layer && state.data.shot);
		if (!state.layer) {
			$("#selection").textContent = `Frame ${frame} · ${here.length} flag${here.length === 1 ? "" : "s"} here · click a flag or a timeline bar to pick a layer`;
			return;
		}
		const layer = state.data.summary.layers[state.layer];
		const i = state.index;
		const conf = layer.series.confidence[i];
		const mine = here.filter((f) => f.layer === state.layer).map((f) => f.reason);
		$("#selection").textContent = `${state.layer} · frame ${frame} · ` +
			(layer.series.area[i] ? `area ${layer.series.area[i]} px, confidence ${conf === null ? "-" : conf.toFixed(2)}` : "not present") +
			(mine.length ? ` · ${mine.join("; ")}` : "");
	}

	async function openInteractive() {
		try {
			const data = await status.busy("preparing the interactive tool", () =>
				api("/api/review/interactive", { run: state.run, frame: currentFrame(), layer: state.layer }));
			window.location.href = data.url;
		} catch (error) {
			status.error(error);
		}
	}

	async function init() {
		const hash = readHash();
		try {
			const runs = await loadRuns(hash.run);
			if (!runs.length) { status.info("No autoseg run in the output folder."); return; }
			await selectRun($("#run").value, hash.frame, hash.layer);
			status.info("Scrub with the slider or ←/→; click a flag to jump to it.");
		} catch (error) {
			status.error(error);
		}
	}

	$("#run").addEventListener("change", () => selectRun($("#run").value).catch((error) => status.error(error)));
	$("#frame-slider").addEventListener("input", debounce(() => selectFrame(Number($("#frame-slider").value)), 40));
	$("#frame").addEventListener("change", () => {
		const index = state.frames.indexOf(Number($("#frame").value));
		if (index >= 0) selectFrame(index); else status.error(new Error(`Frame ${$("#frame").value} is not in this run`));
	});
	$("#prev-frame").addEventListener("click", () => selectFrame(state.index - 1));
	$("#next-frame").addEventListener("click", () => selectFrame(state.index + 1));
	$("#open-interactive").addEventListener("click", openInteractive);
	document.addEventListener("keydown", (event) => {
		if (event.target.matches("input, textarea, select")) return;
		if (event.key === "ArrowLeft") { selectFrame(state.index - 1); event.preventDefault(); }
		else if (event.key === "ArrowRight") { selectFrame(state.index + 1); event.preventDefault(); }
	});
	init();
})();
