// GafferSegmentation browser tools: shared helpers (no libraries, no build step).
"use strict";

const Tools = (() => {
	async function api(path, body) {
		const options = body === undefined
			? { method: "GET" }
			: { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
		const response = await fetch(path, options);
		let data = null;
		try {
			data = await response.json();
		} catch (error) {
			throw new Error(`${path}: HTTP ${response.status}`);
		}
		if (!response.ok) {
			const error = new Error(data && data.error ? data.error : `${path}: HTTP ${response.status}`);
			error.status = response.status;
			throw error;
		}
		return data;
	}

	function query(params) {
		return Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
	}

	function frameUrl(shot, frame) {
		return `/api/frame?${query({ shot, frame, format: "png" })}`;
	}

	function loadImage(url) {
		return new Promise((resolve, reject) => {
			const image = new Image();
			image.onload = () => resolve(image);
			image.onerror = () => reject(new Error(`cannot load ${url}`));
			image.src = url;
		});
	}

	function $(selector, root) {
		return (root || document).querySelector(selector);
	}

	function element(tag, attributes, ...children) {
		const node = document.createElement(tag);
		for (const [key, value] of Object.entries(attributes || {})) {
			if (key === "class") node.className = value;
			else if (key === "text") node.textContent = value;
			else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
			else if (key === "dataset") Object.assign(node.dataset, value);
			else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
		}
		for (const child of children) {
			if (child === null || child === undefined) continue;
			node.append(child instanceof Node ? child : document.createTextNode(String(child)));
		}
		return node;
	}

	// A status line: messages, errors, and a "working" badge over the frame.
	class Status {
		constructor(line, badge) {
			this.line = line;
			this.badge = badge;
			this.pending = 0;
		}
		info(text) {
			this.line.textContent = text;
			this.line.classList.remove("error");
		}
		error(error) {
			this.line.textContent = error.message || String(error);
			this.line.classList.add("error");
			console.warn(error);
		}
		async busy(label, work) {
			this.pending += 1;
			if (this.badge) {
				this.badge.textContent = label;
				this.badge.classList.add("on");
			}
			try {
				return await work();
			} finally {
				this.pending -= 1;
				if (this.pending === 0 && this.badge) this.badge.classList.remove("on");
			}
		}
	}

	// Tinted masks: the server sends white PNGs whose alpha is the mask
	// (soft fill + opaque outline); they are coloured here.
	const tintCache = new Map();

	async function tintedMask(url, colour) {
		const key = `${colour}|${url}`;
		if (tintCache.has(key)) return tintCache.get(key);
		const image = await loadImage(url);
		const canvas = document.createElement("canvas");
		canvas.width = image.width;
		canvas.height = image.height;
		const context = canvas.getContext("2d");
		context.drawImage(image, 0, 0);
		context.globalCompositeOperation = "source-in";
		context.fillStyle = colour;
		context.fillRect(0, 0, canvas.width, canvas.height);
		if (tintCache.size > 400) tintCache.delete(tintCache.keys().next().value);
		tintCache.set(key, canvas);
		return canvas;
	}

	// The frame view: a canvas at working resolution, scaled by CSS to fit.
	class Viewer {
		constructor(canvas) {
			this.canvas = canvas;
			this.context = canvas.getContext("2d");
			this.image = null;
			this.drawOverlay = null;
		}
		async show(url) {
			this.setImage(await loadImage(url));
		}
		setImage(image) {
			this.image = image;
			if (this.canvas.width !== image.width || this.canvas.height !== image.height) {
				this.canvas.width = image.width;
				this.canvas.height = image.height;
			}
			this.fit();
			this.redraw();
		}
		// Scale the canvas (by CSS) to fill its stage, keeping the aspect ratio.
		fit() {
			const stage = this.canvas.parentElement;
			if (!stage || !this.canvas.width) return;
			const scale = Math.min(stage.clientWidth / this.canvas.width, stage.clientHeight / this.canvas.height);
			if (!(scale > 0)) return;
			this.canvas.style.width = `${Math.floor(this.canvas.width * scale)}px`;
			this.canvas.style.height = `${Math.floor(this.canvas.height * scale)}px`;
		}
		redraw() {
			const context = this.context;
			context.globalCompositeOperation = "source-over";
			context.globalAlpha = 1;
			context.clearRect(0, 0, this.canvas.width, this.canvas.height);
			if (this.image) context.drawImage(this.image, 0, 0);
			if (this.drawOverlay) this.drawOverlay(context);
		}
		// Event position -> working-resolution pixel coordinates.
		pixel(event) {
			const rect = this.canvas.getBoundingClientRect();
			return {
				x: (event.clientX - rect.left) / rect.width * this.canvas.width,
				y: (event.clientY - rect.top) / rect.height * this.canvas.height,
			};
		}
		// Size of one screen pixel in canvas pixels (for line widths and fonts).
		get scale() {
			const rect = this.canvas.getBoundingClientRect();
			return rect.width ? this.canvas.width / rect.width : 1;
		}
	}

	function drawLabel(context, text, x, y, colour, scale) {
		context.save();
		context.font = `${Math.round(12 * scale)}px system-ui, sans-serif`;
		const width = context.measureText(text).width + 6 * scale;
		const height = 16 * scale;
		const top = Math.max(0, y - height);
		x = Math.max(0, Math.min(x, context.canvas.width - width));  // keep it on the frame
		context.fillStyle = colour;
		context.fillRect(x, top, width, height);
		context.fillStyle = "#111";
		context.textBaseline = "middle";
		context.fillText(text, x + 3 * scale, top + height / 2);
		context.restore();
	}

	// Fills `select` with the shots under the plate root; null (reported on
	// `status`) when they cannot be listed or there are none.
	async function loadShots(select, preferred, status) {
		let data;
		try {
			data = await api("/api/shots");
		} catch (error) {
			status.error(error);
			return null;
		}
		select.innerHTML = "";
		for (const shot of data.shots) {
			select.append(element("option", { value: shot.id, text: `${shot.id} (${shot.first}-${shot.last})` }));
		}
		if (!data.shots.length) {
			status.error(new Error("No image sequences under the plate root"));
			return null;
		}
		if (preferred && data.shots.some((s) => s.id === preferred)) select.value = preferred;
		return data.shots;
	}

	async function showModels(node) {
		try {
			const info = await api("/api/info");
			const models = info.models;
			const parts = [];
			if (models.groundingdino) parts.push(`detector: ${models.groundingdino.split("/").pop()}`);
			if (models.sam2) parts.push(`SAM2: ${models.sam2.split("/").pop()}`);
			if (models.synthetic) parts.push("synthetic backends");
			node.textContent = parts.length ? parts.join(" · ") : "no models loaded (--models)";
			return info;
		} catch (error) {
			node.textContent = error.message;
			return null;
		}
	}

	async function copyText(text, textarea) {
		try {
			await navigator.clipboard.writeText(text);
			return true;
		} catch (error) {
			if (textarea) {
				textarea.focus();
				textarea.select();
				try {
					return document.execCommand("copy");
				} catch (ignored) {
					return false;
				}
			}
			return false;
		}
	}

	function debounce(fn, ms) {
		let timer = null;
		return (...args) => {
			clearTimeout(timer);
			timer = setTimeout(() => fn(...args), ms);
		};
	}

	// Remember the last shot/frame per tool in the URL hash (shareable, reload-safe).
	function readHash() {
		const params = new URLSearchParams(location.hash.slice(1));
		return Object.fromEntries(params.entries());
	}

	function writeHash(values) {
		const params = new URLSearchParams();
		for (const [key, value] of Object.entries(values)) if (value !== undefined && value !== null) params.set(key, value);
		history.replaceState(null, "", `#${params.toString()}`);
	}

	return { api, query, frameUrl, loadImage, $, element, Status, Viewer, tintedMask, drawLabel, loadShots, showModels, copyText, debounce, readHash, writeHash };
})();
