// Heatmaps with WebGL2: one-channel raw pixels are uploaded as they came (f32 as R32F, u16 as
// R16UI, u8 as R8UI), and a fragment shader normalizes each value by the range and looks it up in
// a 256-entry colormap texture. One offscreen WebGL2 canvas serves every card: it draws an image
// at its own size in its bottom-left corner (the canvas only grows, so heatmaps of different sizes
// do not reallocate it each frame) and the card copies that corner into its 2D canvas (a GPU copy
// where there is a GPU), so the page holds one WebGL context however many heatmaps it shows. Without WebGL2 the cards fall
// back to the same colormap on the CPU (pixels.ts, `colormapInto`).

import { COLORMAP_SIZE, colormapTable } from "./colormaps";
import { type RawPixels, colormapScale } from "./pixels";
import type { ColormapName } from "./protocol";

/** What one heatmap draw needs. */
export interface Heatmap {
  pixels: RawPixels;
  format: "u8" | "u16" | "f32";
  range: [number, number];
  colormap: ColormapName;
}

/** Covers the viewport with one triangle, from gl_VertexID alone (no buffers). */
const VERTEX_SHADER = `#version 300 es
void main() {
  vec2 p = vec2(gl_VertexID == 1 ? 3.0 : -1.0, gl_VertexID == 2 ? 3.0 : -1.0);
  gl_Position = vec4(p, 0.0, 1.0);
}`;

/** The colormap lookup; `sampler` is the values texture's type (float, or unsigned integers). */
function fragmentShader(sampler: "sampler2D" | "usampler2D"): string {
  return `#version 300 es
precision highp float;
precision highp int;
uniform highp ${sampler} values;
uniform lowp sampler2D lut;
uniform float lo;
uniform float scale;
uniform int rows;
out vec4 color;
void main() {
  // Row 0 of the data is the top of the image; gl_FragCoord.y grows upwards.
  ivec2 at = ivec2(int(gl_FragCoord.x), rows - 1 - int(gl_FragCoord.y));
  float v = float(texelFetch(values, at, 0).r);
  if (isnan(v)) {
    color = vec4(0.0);
    return;
  }
  // As colormapInto: index = round(clamp((v - lo) * scale, 0, 255)).
  float k = (v - lo) * scale;
  int index = k > 0.0 ? int(min(k, ${COLORMAP_SIZE - 1}.0) + 0.5) : 0;
  color = texelFetch(lut, ivec2(index, 0), 0);
}`;
}

/** Float values (f32) or unsigned integers (u8, u16): each has its own sampler type. */
type ProgramKind = "float" | "uint";

/**
 * How a format is uploaded: as it came, one channel. (Read from the context, not from
 * `WebGL2RenderingContext`, which a browser with WebGL disabled may not define.)
 */
function uploadOf(gl: WebGL2RenderingContext, format: Heatmap["format"]): { program: ProgramKind; internal: number; format: number; type: number } {
  switch (format) {
    case "f32":
      return { program: "float", internal: gl.R32F, format: gl.RED, type: gl.FLOAT };
    case "u16":
      return { program: "uint", internal: gl.R16UI, format: gl.RED_INTEGER, type: gl.UNSIGNED_SHORT };
    case "u8":
      return { program: "uint", internal: gl.R8UI, format: gl.RED_INTEGER, type: gl.UNSIGNED_BYTE };
  }
}

interface Program {
  program: WebGLProgram;
  lo: WebGLUniformLocation | null;
  scale: WebGLUniformLocation | null;
  rows: WebGLUniformLocation | null;
}

/** The shared WebGL2 heatmap renderer. */
export class GlHeatmaps {
  private readonly programs = new Map<ProgramKind, Program>();
  private readonly luts = new Map<ColormapName, WebGLTexture>();
  private values: WebGLTexture | null = null;
  /** Set when the context was lost or a shader failed: draws are refused (the CPU draws instead). */
  private broken: string | null = null;
  private readonly maxSize: number;

  private constructor(private readonly canvas: HTMLCanvasElement, private readonly gl: WebGL2RenderingContext) {
    const dims = gl.getParameter(gl.MAX_VIEWPORT_DIMS) as Int32Array;
    this.maxSize = Math.min(gl.getParameter(gl.MAX_TEXTURE_SIZE) as number, dims[0], dims[1]);
    canvas.addEventListener("webglcontextlost", (event) => {
      event.preventDefault();
      this.broken = "the WebGL context was lost";
    });
    canvas.addEventListener("webglcontextrestored", () => {
      // Everything made in the lost context is gone: made again on the next draw.
      this.programs.clear();
      this.luts.clear();
      this.values = null;
      this.broken = null;
    });
  }

  /** A renderer, or null where WebGL2 is unavailable (disabled, no driver). */
  static create(): GlHeatmaps | null {
    const canvas = document.createElement("canvas");
    try {
      const gl = canvas.getContext("webgl2", { alpha: true, antialias: false, depth: false, stencil: false, premultipliedAlpha: true, preserveDrawingBuffer: false });
      return gl ? new GlHeatmaps(canvas, gl) : null;
    } catch {
      return null;
    }
  }

  /** Why draws are refused, if they are. */
  get problem(): string | null {
    return this.broken;
  }

  /**
   * Draws `heatmap` into `target` (whose canvas is already the image's size). False when it
   * cannot (too large for the GPU, context lost, shader refused): draw it on the CPU then.
   */
  draw(heatmap: Heatmap, target: CanvasRenderingContext2D): boolean {
    const { width, height } = heatmap.pixels;
    if (this.broken || width > this.maxSize || height > this.maxSize || this.gl.isContextLost()) return false;
    try {
      this.render(heatmap);
    } catch (err) {
      this.broken = err instanceof Error ? err.message : String(err);
      return false;
    }
    target.clearRect(0, 0, width, height);
    // The drawing buffer is still there within this task (it is cleared only once presented). The
    // viewport's bottom-left corner is the 2D canvas's bottom rows.
    target.drawImage(this.canvas, 0, this.canvas.height - height, width, height, 0, 0, width, height);
    return true;
  }

  private render({ pixels, format, range, colormap }: Heatmap): void {
    const gl = this.gl;
    const { width, height } = pixels;
    if (this.canvas.width < width || this.canvas.height < height) {
      this.canvas.width = Math.max(this.canvas.width, width);
      this.canvas.height = Math.max(this.canvas.height, height);
    }
    const upload = uploadOf(gl, format);
    const program = this.program(upload.program);
    gl.useProgram(program.program);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, (this.values ??= this.texture()));
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, upload.internal, width, height, 0, upload.format, upload.type, pixels.values);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this.lut(colormap));
    gl.uniform1f(program.lo, range[0]);
    gl.uniform1f(program.scale, colormapScale(range));
    gl.uniform1i(program.rows, height);
    gl.viewport(0, 0, width, height);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  }

  /** A texture sampled texel by texel (no filtering: R32F and integer textures allow no other). */
  private texture(): WebGLTexture {
    const gl = this.gl;
    const texture = gl.createTexture();
    if (!texture) throw new Error("WebGL could not make a texture");
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return texture;
  }

  /** The colormap's 256×1 RGBA texture (unit 1). */
  private lut(name: ColormapName): WebGLTexture {
    let texture = this.luts.get(name);
    if (!texture) {
      const gl = this.gl;
      texture = this.texture();
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, COLORMAP_SIZE, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, colormapTable(name));
      this.luts.set(name, texture);
    }
    return texture;
  }

  private program(kind: ProgramKind): Program {
    let program = this.programs.get(kind);
    if (!program) {
      const gl = this.gl;
      const linked = link(gl, VERTEX_SHADER, fragmentShader(kind === "float" ? "sampler2D" : "usampler2D"));
      gl.useProgram(linked);
      gl.uniform1i(gl.getUniformLocation(linked, "values"), 0);
      gl.uniform1i(gl.getUniformLocation(linked, "lut"), 1);
      program = {
        program: linked,
        lo: gl.getUniformLocation(linked, "lo"),
        scale: gl.getUniformLocation(linked, "scale"),
        rows: gl.getUniformLocation(linked, "rows"),
      };
      this.programs.set(kind, program);
    }
    return program;
  }
}

function compile(gl: WebGL2RenderingContext, type: number, source: string): WebGLShader {
  const shader = gl.createShader(type);
  if (!shader) throw new Error("WebGL could not make a shader");
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(`the heatmap shader did not compile: ${gl.getShaderInfoLog(shader)}`);
  return shader;
}

function link(gl: WebGL2RenderingContext, vertex: string, fragment: string): WebGLProgram {
  const program = gl.createProgram();
  if (!program) throw new Error("WebGL could not make a program");
  gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, vertex));
  gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, fragment));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`the heatmap shader did not link: ${gl.getProgramInfoLog(program)}`);
  return program;
}
