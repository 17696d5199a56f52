// Interactive segmentation: click points per object, masks after each click,
// keyframes, tracking over the shot, review, prompt files and outputs.
"use strict";

(() => {
	const { api, query, $, element, Status, Viewer, tintedMask, drawLabel, loadShots, showModels, debounce, readHash, writeHash, frameUrl } = Tools;

	const state = {
		shots: [],
		shot: null,
		info: null,
		frames: [],
		index: 0,
		session: null,
		active: null,
		masks: [],
		tinted: [],
		hideMasks: false,
		playing: false,
		job: null,
		frameRequest: 0,
		shotRequest: 0,
	};

	const viewer = new Viewer($("#view"));
	const status = new Status($("#status"), $("#busy"));

	const currentFrame = () => state.frames[state.index];
	const objects = () => (state.session ? state.session.objects : []);
	const activeObject = () => objects().find((o) => o.id === state.active) || null;

	function remember() {
		writeHash({ shot: state.shot, frame: currentFrame(), object: state.active });
	}

	// -- session and masks ---------------------------------------------------------

	async function applyResponse(data) {
		if (data.session) {
			state.session = data.session;
			if (!objects().some((o) => o.id === state.active)) {
				state.active = objects().length ? objects()[objects().length - 1].id : null;
			}
			renderObjects();
			renderTicks();
			renderButtons();
		}
		if (data.masks) {
			const colours = Object.fromEntries(objects().map((o) => [o.id, o.colour]));
			const tinted = await Promise.all(data.masks.map((m) => tintedMask(m.mask, colours[m.object] || m.colour)));
			state.masks = data.masks;
			state.tinted = tinted;
		}
		viewer.redraw();
	}

	// The masks of a frame; with "preview refined edges", the tracked ones
	// refined at plate resolution as the outputs write them.
	function masksUrl(frame) {
		const refine = $("#preview-refined").checked ? { refine_edges: 1 } : {};
		return `/api/masks?${query({ shot: state.shot, frame, ...refine })}`;
	}

	async function refreshMasks() {
		const request = ++state.frameRequest;
		const frame = currentFrame();
		const data = await api(masksUrl(frame));
		if (request !== state.frameRequest) return;
		await applyResponse(data);
	}

	async function selectShot(shotId, frame, objectId) {
		state.shot = shotId;
		const request = ++state.shotRequest;
		try {
			const info = await status.busy("opening shot", () => api(`/api/shot?${query({ shot: shotId })}`));
			if (request !== state.shotRequest) return;  // another shot was picked meanwhile
			state.info = info;
			state.frames = info.frames;
			state.session = info.session;
			state.active = objectId !== undefined && info.session.objects.some((o) => o.id === Number(objectId))
				? Number(objectId)
				: (info.session.objects.length ? info.session.objects[0].id : null);
			$("#frame-slider").max = Math.max(0, state.frames.length - 1);
			$("#shot-info").textContent = `${info.frames.length} frames · working size ${info.size[1]}×${info.size[0]} · plate ${info.plate_size[1]}×${info.plate_size[0]} · models: ${info.models}`;
			$("#output-folder").textContent = `output: ${info.output_folder}/`;
			renderObjects();
			renderButtons();
			const wanted = state.frames.indexOf(Number(frame));
			await selectFrame(wanted >= 0 ? wanted : 0);
			listFiles();
		} catch (error) {
			status.error(error);
		}
	}

	async function selectFrame(index) {
		if (!state.frames.length) return;
		state.index = Math.max(0, Math.min(state.frames.length - 1, index));
		$("#frame-slider").value = state.index;
		$("#frame").value = currentFrame();
		renderTicks();
		renderObjects();
		remember();
		const request = ++state.frameRequest;
		try {
			await status.busy("loading frame", async () => {
				const frame = currentFrame();
				const [_, data] = await Promise.all([
					viewer.show(frameUrl(state.shot, frame)),
					api(masksUrl(frame)),
				]);
				if (request !== state.frameRequest) return;
				await applyResponse(data);
			});
			if (request === state.frameRequest) describeFrame();
		} catch (error) {
			status.error(error);
		}
	}

	function describeFrame() {
		const frame = currentFrame();
		const keyed = objects().filter((o) => (o.keyframes[String(frame)] || []).length).map((o) => o.name);
		const tracked = state.masks.filter((m) => m.source === "tracked").length;
		let text = `Frame ${frame}`;
		if (keyed.length) text += ` · keyframe of ${keyed.join(", ")}`;
		if (tracked) text += ` · ${tracked} tracked mask${tracked > 1 ? "s" : ""}`;
		if (state.session && state.session.tracking_stale) text += " · clicks changed since tracking: track again";
		status.info(text);
	}

	// -- editing -------------------------------------------------------------------

	async function edit(path, body, label) {
		try {
			const data = await status.busy(label, () => api(path, { shot: state.shot, ...body }));
			await applyResponse(data);
			// edits answer with the plain masks: fetch the refined preview again
			if (data.masks && $("#preview-refined").checked) await refreshMasks();
			describeFrame();
			return data;
		} catch (error) {
			status.error(error);
			return null;
		}
	}

	async function addObject() {
		const cls = $("#new-class").value.trim() || "object";
		const data = await edit("/api/object/add", { class: cls }, "adding object");
		if (data) {
			const list = objects();
			state.active = list[list.length - 1].id;
			renderObjects();
			remember();
		}
	}

	async function click(event) {
		if (!state.frames.length) return;
		if (event.button !== 0 && event.button !== 2) return;
		event.preventDefault();
		if (state.playing) togglePlay();
		if (activeObject() === null) await addObject();
		if (activeObject() === null) return;
		const { x, y } = viewer.pixel(event);
		const positive = event.button === 0 && !event.shiftKey && !event.altKey;
		const started = performance.now();
		const data = await edit("/api/click", { object: state.active, frame: currentFrame(), x, y, positive }, "segmenting");
		if (data) {
			const mask = (data.masks || []).find((m) => m.object === state.active);
			const seconds = ((performance.now() - started) / 1000).toFixed(2);
			status.info(`${positive ? "Positive" : "Negative"} click on ${activeObject().name}, frame ${currentFrame()}: mask ${mask ? mask.area : 0} px · ${seconds} s`);
		}
	}

	async function undo() {
		await edit("/api/undo", { frame: currentFrame() }, "undo");
	}

	async function redo() {
		await edit("/api/redo", { frame: currentFrame() }, "redo");
	}

	// -- drawing -------------------------------------------------------------------

	viewer.drawOverlay = (context) => {
		const scale = viewer.scale;
		if (!state.hideMasks) {
			state.tinted.forEach((canvas, i) => {
				const mask = state.masks[i];
				context.globalAlpha = mask.source === "tracked" ? 0.8 : 0.95;
				// refined masks are at plate resolution: scale them onto the frame
				context.drawImage(canvas, 0, 0, context.canvas.width, context.canvas.height);
			});
			context.globalAlpha = 1;
		}
		const frame = String(currentFrame());
		for (const obj of objects()) {
			const points = obj.keyframes[frame] || [];
			const active = obj.id === state.active;
			for (const [x, y, label] of points) {
				const radius = (active ? 6.5 : 5) * scale;
				context.beginPath();
				context.arc(x, y, radius, 0, Math.PI * 2);
				context.fillStyle = label ? "#35c46a" : "#ff4d4d";
				context.fill();
				context.lineWidth = (active ? 2.5 : 1.5) * scale;
				context.strokeStyle = active ? "#ffffff" : "#dddddd";
				context.stroke();
				context.beginPath();
				context.strokeStyle = "#111";
				context.lineWidth = 1.6 * scale;
				context.moveTo(x - radius * 0.55, y);
				context.lineTo(x + radius * 0.55, y);
				if (label) {
					context.moveTo(x, y - radius * 0.55);
					context.lineTo(x, y + radius * 0.55);
				}
				context.stroke();
			}
		}
		if (!state.hideMasks) {
			for (const mask of state.masks) {
				const obj = objects().find((o) => o.id === mask.object);
				const point = obj && (obj.keyframes[frame] || [])[0];
				if (point) drawLabel(context, obj.name, point[0] + 8 * scale, point[1] - 6 * scale, obj.colour, scale);
			}
		}
	};

	function renderObjects() {
		const list = $("#objects");
		list.innerHTML = "";
		const frame = String(currentFrame());
		for (const [number, obj] of objects().entries()) {
			const keyframes = Object.keys(obj.keyframes).filter((f) => obj.keyframes[f].length).map(Number).sort((a, b) => a - b);
			const colour = element("input", { type: "color", value: obj.colour, title: "Colour", "aria-label": `Colour of ${obj.name}` });
			colour.addEventListener("change", () => edit("/api/object/update", { object: obj.id, colour: colour.value }, "colour"));
			const cls = element("input", { type: "text", value: obj.class, class: "grow", "aria-label": `Class of ${obj.name}` });
			cls.addEventListener("change", () => edit("/api/object/update", { object: obj.id, class: cls.value }, "renaming"));
			const remove = element("button", { title: "Delete object", text: "✕", "aria-label": `Delete ${obj.name}` });
			remove.addEventListener("click", (event) => { event.stopPropagation(); edit("/api/object/delete", { object: obj.id }, "deleting"); });
			const keys = element("div", { class: "keys" }, keyframes.length ? "keyframes: " : "no clicks yet");
			for (const key of keyframes) {
				const link = element("a", { text: key === Number(frame) ? `[${key}]` : String(key), title: `Go to frame ${key}` });
				link.addEventListener("click", (event) => { event.stopPropagation(); selectFrame(state.frames.indexOf(key)); });
				keys.append(link);
			}
			const item = element("li", { class: obj.id === state.active ? "active" : "", dataset: { object: obj.id } },
				element("div", { class: "head" }, element("span", { class: "muted", text: number + 1 }), colour, cls, remove),
				element("div", { class: "layer", text: obj.name }),
				keys);
			item.addEventListener("click", (event) => {
				if (event.target.tagName === "INPUT") return;
				state.active = obj.id;
				renderObjects();
				viewer.redraw();
				remember();
			});
			list.append(item);
		}
	}

	function renderTicks() {
		const ticks = $("#ticks");
		ticks.innerHTML = "";
		const count = state.frames.length;
		if (!count) return;
		const position = (frame) => {
			const index = state.frames.indexOf(frame);
			return count > 1 ? `${(index / (count - 1)) * 100}%` : "50%";
		};
		for (const frame of (state.session ? state.session.tracked_frames : [])) {
			ticks.append(element("span", { class: "tracked" }));
			ticks.lastChild.style.left = position(frame);
		}
		for (const frame of (state.session ? state.session.keyframes : [])) {
			ticks.append(element("span", { class: "key", title: `keyframe ${frame}` }));
			ticks.lastChild.style.left = position(frame);
		}
		ticks.append(element("span", { class: "current" }));
		ticks.lastChild.style.left = position(currentFrame());
	}

	function renderButtons() {
		const session = state.session;
		$("#undo").disabled = !(session && session.can_undo);
		$("#redo").disabled = !(session && session.can_redo);
		const running = state.job !== null;
		$("#track").disabled = running;
		$("#write-outputs").disabled = running;
		$("#cancel").disabled = !running;
		const info = $("#track-info");
		if (!running && session) {
			if (session.tracking_stale) info.textContent = "Clicks changed since the last tracking run: track again before writing outputs.";
			else if (session.tracked_frames.length) info.textContent = `Tracked ${session.tracked_frames.length} frames. Scrub or play to review.`;
		}
	}

	// -- keyframes and playback ------------------------------------------------------

	function jumpKeyframe(direction) {
		const keys = state.session ? state.session.keyframes : [];
		const frame = currentFrame();
		const target = direction > 0 ? keys.find((k) => k > frame) : [...keys].reverse().find((k) => k < frame);
		if (target !== undefined) selectFrame(state.frames.indexOf(target));
	}

	async function togglePlay() {
		state.playing = !state.playing;
		$("#play").textContent = state.playing ? "❚❚ Pause" : "▶ Play";
		while (state.playing) {
			const next = state.index + 1 < state.frames.length ? state.index + 1 : 0;
			const started = performance.now();
			await selectFrame(next);
			const wait = 1000 / 12 - (performance.now() - started);
			if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
		}
	}

	// -- jobs ------------------------------------------------------------------------

	async function runJob(path, body, label) {
		try {
			const data = await api(path, { shot: state.shot, ...body });
			state.job = data.job;
			renderButtons();
			const progress = $("#progress");
			const shot = state.shot;
			for (;;) {
				const job = (await api(`/api/jobs/${encodeURIComponent(state.job.id)}`)).job;
				progress.max = Math.max(job.total, 1);
				progress.value = job.done;
				const eta = job.eta !== null && job.eta !== undefined ? ` · about ${Math.ceil(job.eta)} s left` : "";
				$("#track-info").textContent = `${label}: ${job.message || job.state} (${job.done}/${job.total})${eta}`;
				if (!["queued", "running"].includes(job.state)) {
					state.job = null;
					if (job.state === "failed") throw new Error(`${label} failed: ${job.error}`);
					if (job.state === "cancelled") status.info(`${label} cancelled`);
					else status.info(`${label} finished in ${job.elapsed.toFixed(1)} s`);
					$("#track-info").textContent = `${label}: ${job.state} in ${job.elapsed.toFixed(1)} s`;
					if (shot === state.shot) {
						await refreshMasks();
						listFiles();
					}
					renderButtons();
					return job;
				}
				await new Promise((resolve) => setTimeout(resolve, 300));
			}
		} catch (error) {
			state.job = null;
			renderButtons();
			status.error(error);
			return null;
		}
	}

	async function track() {
		if (state.playing) togglePlay();
		await runJob("/api/track", { backward: $("#backward").checked, cache_rule: $("#cache-rule").value }, "Tracking");
	}

	async function cancelJob() {
		if (!state.job) return;
		try {
			await api(`/api/jobs/${encodeURIComponent(state.job.id)}/cancel`, {});
		} catch (error) {
			status.error(error);
		}
	}

	async function savePrompts() {
		try {
			const data = await status.busy("saving prompts", () => api("/api/prompts/save", { shot: state.shot, overwrite: $("#overwrite").checked, mode: $("#prompt-mode").value }));
			const use = $("#prompt-mode").value === "combine" ? "combined with the automatic layers" : "as the only layers";
			status.info(`Saved prompts (${use}): ${data.files.join(", ")}`);
			listFiles();
		} catch (error) {
			status.error(error);
		}
	}

	async function loadPrompts() {
		const data = await edit("/api/prompts/load", {}, "loading prompts");
		if (data) {
			await refreshMasks();
			status.info(`Loaded ${objects().length} object(s) from the saved prompts`);
		}
	}

	async function writeOutputs() {
		const formats = [];
		if ($("#fmt-objectid").checked) formats.push("objectid");
		if ($("#fmt-cryptomatte").checked) formats.push("cryptomatte");
		const body = { formats, overwrite: $("#overwrite").checked, refine_edges: $("#refine-edges").checked };
		await runJob("/api/outputs/write", body, "Writing outputs");
	}

	// Output files, one line per sequence: "plate.objectid.####.exr  12 frames 1001-1012".
	async function listFiles() {
		try {
			const data = await api(`/api/outputs?${query({ shot: state.shot })}`);
			const list = $("#files");
			list.innerHTML = "";
			const prefix = `${data.folder}/`;
			const groups = new Map();
			for (const file of data.files) {
				const relative = file.startsWith(prefix) ? file.slice(prefix.length) : file;
				const match = relative.match(/^(.*?)(\d+)(\.[A-Za-z0-9]+)$/);
				const key = match ? `${match[1]}${"#".repeat(match[2].length)}${match[3]}` : relative;
				if (!groups.has(key)) groups.set(key, []);
				groups.get(key).push(match ? Number(match[2]) : null);
			}
			for (const [key, frames] of groups) {
				const numbers = frames.filter((f) => f !== null);
				const text = numbers.length > 1
					? `${key}  ${numbers.length} frames ${Math.min(...numbers)}-${Math.max(...numbers)}`
					: key.replace(/#+/, String(numbers[0] ?? ""));
				list.append(element("li", { text }));
			}
			list.dataset.count = String(data.files.length);
		} catch (error) {
			status.error(error);
		}
	}

	// -- wiring ----------------------------------------------------------------------

	async function init() {
		await showModels($("#models"));
		const hash = readHash();
		state.shots = (await loadShots($("#shot"), hash.shot, status)) || [];
		if (!state.shots.length) return;
		await selectShot($("#shot").value, hash.frame, hash.object);
	}

	const canvas = $("#view");
	canvas.addEventListener("mousedown", (event) => { canvas.focus(); click(event); });
	canvas.addEventListener("contextmenu", (event) => event.preventDefault());
	$("#shot").addEventListener("change", () => selectShot($("#shot").value));
	$("#add-object").addEventListener("click", addObject);
	$("#new-class").addEventListener("keydown", (event) => { if (event.key === "Enter") addObject(); });
	$("#undo").addEventListener("click", undo);
	$("#redo").addEventListener("click", redo);
	$("#clear-key").addEventListener("click", () => {
		if (state.active !== null) edit("/api/keyframe/clear", { object: state.active, frame: currentFrame() }, "clearing");
	});
	$("#frame-slider").addEventListener("input", debounce(() => selectFrame(Number($("#frame-slider").value)), 60));
	$("#frame").addEventListener("change", () => {
		const index = state.frames.indexOf(Number($("#frame").value));
		if (index >= 0) selectFrame(index);
		else status.error(new Error(`Frame ${$("#frame").value} is not in this shot`));
	});
	// Enter in the frame box jumps there and hands the keys back to the shortcuts.
	$("#frame").addEventListener("keydown", (event) => { if (event.key === "Enter") $("#frame").blur(); });
	$("#prev-frame").addEventListener("click", () => selectFrame(state.index - 1));
	$("#next-frame").addEventListener("click", () => selectFrame(state.index + 1));
	$("#prev-key").addEventListener("click", () => jumpKeyframe(-1));
	$("#next-key").addEventListener("click", () => jumpKeyframe(1));
	$("#play").addEventListener("click", togglePlay);
	$("#track").addEventListener("click", track);
	$("#cancel").addEventListener("click", cancelJob);
	$("#save-prompts").addEventListener("click", savePrompts);
	$("#load-prompts").addEventListener("click", loadPrompts);
	$("#write-outputs").addEventListener("click", writeOutputs);
	$("#show-masks").addEventListener("change", () => { state.hideMasks = !$("#show-masks").checked; viewer.redraw(); });
	$("#preview-refined").addEventListener("change", () => refreshMasks().catch((error) => status.error(error)));

	document.addEventListener("keydown", (event) => {
		if (event.target.matches("input, textarea, select")) return;
		if (event.target.matches("button") && (event.key === " " || event.key === "Enter")) return;
		const ctrl = event.ctrlKey || event.metaKey;
		const key = event.key.toLowerCase();
		if (ctrl && key === "z" && !event.shiftKey) { undo(); event.preventDefault(); return; }
		if (ctrl && (key === "y" || (key === "z" && event.shiftKey))) { redo(); event.preventDefault(); return; }
		if (ctrl) return;
		if (event.key === "ArrowLeft") { event.shiftKey ? jumpKeyframe(-1) : selectFrame(state.index - 1); event.preventDefault(); }
		else if (event.key === "ArrowRight") { event.shiftKey ? jumpKeyframe(1) : selectFrame(state.index + 1); event.preventDefault(); }
		else if (event.key === " ") { togglePlay(); event.preventDefault(); }
		else if (key === "h") { $("#show-masks").checked = state.hideMasks; state.hideMasks = !state.hideMasks; viewer.redraw(); }
		else if (key === "n") { addObject(); }
		else if (/^[1-9]$/.test(event.key)) {
			const obj = objects()[Number(event.key) - 1];
			if (obj) { state.active = obj.id; renderObjects(); viewer.redraw(); remember(); }
		}
	});
	window.addEventListener("resize", () => { viewer.fit(); viewer.redraw(); });

	init();
})();
