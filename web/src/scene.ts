// The 3D view with Three.js: the latest point cloud and the line strip of every 3D stream, a
// ground grid and axes, orbit controls. Z is up. Buffers are allocated once per stream and grown
// by doubling; each update writes into them in place and sets the draw range. The scene is drawn
// only when something changed (data, camera, size).

import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

import type { Cloud, Polyline, Store } from "./store";

/** Default point radius (world units) when a cloud gives none. */
const DEFAULT_RADIUS = 0.02;

interface CloudObject {
  points: THREE.Points;
  geometry: THREE.BufferGeometry;
  positions: THREE.BufferAttribute;
  colors: THREE.BufferAttribute;
  material: THREE.PointsMaterial;
  version: number;
  radius: number;
}

interface LineObject {
  line: THREE.Line;
  geometry: THREE.BufferGeometry;
  positions: THREE.BufferAttribute;
  colors: THREE.BufferAttribute;
  material: THREE.LineBasicMaterial;
  version: number;
}

/** Whether this browser can draw WebGL, and if not, why. */
export function webglProblem(): string | null {
  try {
    const canvas = document.createElement("canvas");
    if (canvas.getContext("webgl2") || canvas.getContext("webgl")) return null;
    return "WebGL is unavailable in this browser (disabled, or no graphics driver), so the 3D view cannot be drawn. The plots work without it.";
  } catch (err) {
    return `WebGL failed to start (${String(err)}). The plots work without it.`;
  }
}

/** Viridis-like colour map for heights in 0–1. */
function ramp(x: number, out: Uint8Array, at: number): void {
  const stops = [68, 1, 84, 49, 104, 142, 53, 183, 121, 253, 231, 37];
  const f = Math.min(1, Math.max(0, x)) * 3;
  const i = Math.min(2, Math.floor(f));
  const w = f - i;
  for (let k = 0; k < 3; k++) out[at + k] = stops[i * 3 + k] + (stops[(i + 1) * 3 + k] - stops[i * 3 + k]) * w;
}

/** A round sprite so points are discs, not squares. */
function discTexture(): THREE.Texture {
  const size = 64;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const g = canvas.getContext("2d");
  if (g) {
    g.beginPath();
    g.arc(size / 2, size / 2, size / 2 - 1, 0, Math.PI * 2);
    g.fillStyle = "#fff";
    g.fill();
  }
  return new THREE.CanvasTexture(canvas);
}

export class Scene3D {
  private readonly renderer: THREE.WebGLRenderer;
  private readonly scene = new THREE.Scene();
  private readonly camera = new THREE.PerspectiveCamera(50, 1, 0.01, 10_000);
  private readonly controls: OrbitControls;
  private readonly clouds = new Map<string, CloudObject>();
  private readonly lines = new Map<string, LineObject>();
  private readonly disc = discTexture();
  private needsRender = true;
  /** Keep framing the data until the user moves the camera ("reset view" resumes it). */
  private autoFit = true;
  private lastFit = 0;
  private structure = -1;
  /** Multiplies every point's radius (the point-size control). */
  pointScale = 1;
  /** Frames drawn (for tests and the status line). */
  renders = 0;

  constructor(private readonly container: HTMLElement, private readonly store: Store) {
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: false });
    this.renderer.setPixelRatio(Math.min(2, window.devicePixelRatio || 1));
    this.renderer.setClearColor(0x0b1120);
    container.append(this.renderer.domElement);
    this.camera.up.set(0, 0, 1);
    this.camera.position.set(4, -5, 3.5);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.target.set(0, 0, 0.5);
    this.controls.enableDamping = false;
    this.controls.addEventListener("change", () => (this.needsRender = true));
    this.controls.addEventListener("start", () => (this.autoFit = false));
    const grid = new THREE.GridHelper(10, 20, 0x334155, 0x1e293b);
    grid.rotation.x = Math.PI / 2;
    this.scene.add(grid, new THREE.AxesHelper(1));
    new ResizeObserver(() => this.resize()).observe(container);
    this.resize();
  }

  private resize(): void {
    const width = Math.max(1, this.container.clientWidth);
    const height = Math.max(1, this.container.clientHeight);
    this.renderer.setSize(width, height, true);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.needsRender = true;
  }

  /** Frames everything visible, and keeps doing so as data comes until the user moves the camera. */
  resetView(): void {
    this.autoFit = true;
    this.fit();
  }

  /** Points the camera at everything visible. */
  private fit(): void {
    // Bounds of what is drawn (not of the buffers' spare capacity).
    const box = new THREE.Box3();
    const point = new THREE.Vector3();
    const objects = [
      ...[...this.clouds.values()].filter((o) => o.points.visible).map((o) => o.geometry),
      ...[...this.lines.values()].filter((o) => o.line.visible).map((o) => o.geometry),
    ];
    for (const geometry of objects) {
      const array = geometry.getAttribute("position").array as Float32Array;
      const count = Math.min(geometry.drawRange.count, array.length / 3);
      for (let i = 0; i < count; i++) box.expandByPoint(point.set(array[i * 3], array[i * 3 + 1], array[i * 3 + 2]));
    }
    if (box.isEmpty()) return;
    const sphere = box.getBoundingSphere(new THREE.Sphere());
    const radius = Math.max(sphere.radius, 0.1);
    const direction = new THREE.Vector3(0.6, -0.75, 0.5).normalize();
    this.camera.position.copy(sphere.center).addScaledVector(direction, radius * 2.6);
    this.controls.target.copy(sphere.center);
    this.camera.near = radius / 100;
    this.camera.far = radius * 100;
    this.camera.updateProjectionMatrix();
    this.controls.update();
    this.needsRender = true;
  }

  /** Draws the scene if anything changed. */
  update(): void {
    let changed = this.structure !== this.store.structureVersion;
    this.structure = this.store.structureVersion;
    for (const [name, cloud] of this.store.clouds) changed = this.syncCloud(name, cloud) || changed;
    for (const [name, object] of this.clouds) {
      if (!this.store.clouds.has(name)) {
        this.scene.remove(object.points);
        object.geometry.dispose();
        object.material.dispose();
        this.clouds.delete(name);
        changed = true;
      }
    }
    for (const [name, line] of this.store.lines) changed = this.syncLine(name, line) || changed;
    if (changed) {
      this.needsRender = true;
      // Re-frame at most twice a second: bounds are computed over every point.
      const now = performance.now();
      if (this.autoFit && now - this.lastFit > 500) {
        this.fit();
        this.lastFit = now;
      }
    }
    if (this.needsRender) {
      this.renderer.render(this.scene, this.camera);
      this.needsRender = false;
      this.renders++;
    }
  }

  /** Redraws with a new point scale. */
  setPointScale(scale: number): void {
    this.pointScale = scale;
    for (const o of this.clouds.values()) o.material.size = o.radius * 2 * scale;
    this.needsRender = true;
  }

  private syncCloud(name: string, cloud: Cloud): boolean {
    let object = this.clouds.get(name);
    if (object && object.version === cloud.version) {
      object.points.visible = cloud.visible;
      return false;
    }
    const decoded = cloud.decode();
    const n = Math.floor(decoded.positions.length / 3);
    if (!object) {
      const geometry = new THREE.BufferGeometry();
      const capacity = Math.max(1024, n);
      const positions = new THREE.BufferAttribute(new Float32Array(capacity * 3), 3);
      const colors = new THREE.BufferAttribute(new Uint8Array(capacity * 3), 3, true);
      positions.setUsage(THREE.DynamicDrawUsage);
      colors.setUsage(THREE.DynamicDrawUsage);
      geometry.setAttribute("position", positions);
      geometry.setAttribute("color", colors);
      const radius = cloud.radius ?? DEFAULT_RADIUS;
      const material = new THREE.PointsMaterial({
        size: radius * 2 * this.pointScale,
        sizeAttenuation: true,
        vertexColors: true,
        map: this.disc,
        alphaTest: 0.5,
        transparent: false,
      });
      const points = new THREE.Points(geometry, material);
      points.frustumCulled = false;
      this.scene.add(points);
      object = { points, geometry, positions, colors, material, version: -1, radius };
      this.clouds.set(name, object);
    }
    object.points.visible = cloud.visible;
    object.version = cloud.version;
    ensureCapacity(object, n);
    const positions = object.positions.array as Float32Array;
    const colors = object.colors.array as Uint8Array;
    const given = decoded.colors && decoded.colors.length >= n * 3 ? decoded.colors : null;
    // Copy, leaving out points that are not finite (NaN marks "no point" in encoded arrays).
    let kept = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = decoded.positions[i * 3];
      const y = decoded.positions[i * 3 + 1];
      const z = decoded.positions[i * 3 + 2];
      if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z)) continue;
      positions[kept * 3] = x;
      positions[kept * 3 + 1] = y;
      positions[kept * 3 + 2] = z;
      if (given) {
        colors[kept * 3] = given[i * 3];
        colors[kept * 3 + 1] = given[i * 3 + 1];
        colors[kept * 3 + 2] = given[i * 3 + 2];
      } else if (cloud.color) {
        colors.set(cloud.color, kept * 3);
      }
      if (z < lo) lo = z;
      if (z > hi) hi = z;
      kept++;
    }
    if (!given && !cloud.color) {
      const span = hi - lo || 1;
      for (let i = 0; i < kept; i++) ramp((positions[i * 3 + 2] - lo) / span, colors, i * 3);
    }
    object.positions.addUpdateRange(0, kept * 3);
    object.colors.addUpdateRange(0, kept * 3);
    object.positions.needsUpdate = true;
    object.colors.needsUpdate = true;
    object.radius = cloud.radius ?? object.radius;
    object.material.size = object.radius * 2 * this.pointScale;
    return true;
  }

  private syncLine(name: string, line: Polyline): boolean {
    let object = this.lines.get(name);
    if (!object) {
      const geometry = new THREE.BufferGeometry();
      const positions = new THREE.BufferAttribute(new Float32Array(3 * 1024), 3);
      const colors = new THREE.BufferAttribute(new Uint8Array(3 * 1024), 3, true);
      positions.setUsage(THREE.DynamicDrawUsage);
      geometry.setAttribute("position", positions);
      geometry.setAttribute("color", colors);
      const material = new THREE.LineBasicMaterial({ vertexColors: true });
      const drawn = new THREE.Line(geometry, material);
      drawn.frustumCulled = false;
      this.scene.add(drawn);
      object = { line: drawn, geometry, positions, colors, material, version: -1 };
      this.lines.set(name, object);
    }
    object.line.visible = line.visible;
    if (object.version === line.version) return false;
    object.version = line.version;
    const n = line.count;
    ensureCapacity(object, n);
    const positions = object.positions.array as Float32Array;
    const colors = object.colors.array as Uint8Array;
    const fallback = line.color ?? [249, 115, 22];
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const x = line.positions[i * 3];
      const y = line.positions[i * 3 + 1];
      const z = line.positions[i * 3 + 2];
      if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z)) continue;
      positions.set([x, y, z], kept * 3);
      if (line.colors) colors.set(line.colors.subarray(i * 3, i * 3 + 3), kept * 3);
      else colors.set(fallback, kept * 3);
      kept++;
    }
    object.positions.needsUpdate = true;
    object.colors.needsUpdate = true;
    object.geometry.setDrawRange(0, kept);
    return true;
  }
}

/** Grows an object's position and colour buffers to hold `n` vertices, by doubling. */
function ensureCapacity(
  object: {
    geometry: THREE.BufferGeometry;
    positions: THREE.BufferAttribute;
    colors: THREE.BufferAttribute;
  },
  n: number,
): void {
  if (n * 3 <= object.positions.array.length) return;
  let capacity = object.positions.array.length / 3;
  while (capacity < n) capacity *= 2;
  object.positions = new THREE.BufferAttribute(new Float32Array(capacity * 3), 3);
  object.colors = new THREE.BufferAttribute(new Uint8Array(capacity * 3), 3, true);
  object.positions.setUsage(THREE.DynamicDrawUsage);
  object.colors.setUsage(THREE.DynamicDrawUsage);
  object.geometry.setAttribute("position", object.positions);
  object.geometry.setAttribute("color", object.colors);
}
