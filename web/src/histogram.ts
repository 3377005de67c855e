// The histogram of matches over the time range, drawn by uPlot. Dragging across it selects a range,
// which becomes the new absolute time range (the chart does not zoom itself: the search does).

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Histogram } from "./api";
import { formatTime } from "./time";

export type ZoomHandler = (fromMs: number, toMs: number) => void;

const HEIGHT = 130;

export class HistogramChart {
  private plot: uPlot | null = null;
  private range: [number, number] = [0, 1];
  private intervalMs = 1000;

  constructor(private readonly box: HTMLElement, private readonly readout: HTMLElement,
              private readonly onZoom: ZoomHandler) {
    box.title = "Drag across the chart to zoom into a time range";
    window.addEventListener("resize", () => this.plot?.setSize(this.size()));
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.box.clientWidth), height: HEIGHT };
  }

  private options(): uPlot.Options {
    return {
      ...this.size(),
      ms: 1,
      legend: { show: false },
      cursor: {
        y: false,
        drag: { x: true, y: false, setScale: false },
        points: { show: false },
      },
      scales: {
        x: { time: true, range: () => this.range },
        y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
      },
      axes: [
        { stroke: "#555", grid: { stroke: "#eee" }, ticks: { stroke: "#ccc" }, values: (_u, splits) => this.ticks(splits) },
        { stroke: "#555", grid: { stroke: "#eee" }, ticks: { stroke: "#ccc" }, size: 48 },
      ],
      series: [
        {},
        {
          label: "matches",
          fill: "rgba(0, 119, 204, 0.55)",
          stroke: "#0077cc",
          width: 0,
          paths: uPlot.paths.bars!({ align: 1, size: [0.92, Infinity] }),
          points: { show: false },
        },
      ],
      hooks: {
        setSelect: [(u) => this.selected(u)],
        setCursor: [(u) => this.hover(u)],
      },
    };
  }

  /** 24-hour tick labels, with seconds or the date only when the range needs them. */
  private ticks(splits: number[]): string[] {
    const span = this.range[1] - this.range[0];
    return splits.map((v) => {
      const text = formatTime(v, false); // 2026-12-01 03:04:05
      if (span > 3 * 86_400_000) return text.slice(5, 10);
      if (span > 86_400_000) return text.slice(5, 16);
      return span > 600_000 ? text.slice(11, 16) : text.slice(11, 19);
    });
  }

  private selected(u: uPlot): void {
    const { left, width } = u.select;
    if (width < 3) return;
    const from = Math.floor(u.posToVal(left, "x"));
    const to = Math.ceil(u.posToVal(left + width, "x"));
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (to > from) this.onZoom(from, to);
  }

  private hover(u: uPlot): void {
    const i = u.cursor.idx;
    const data = u.data;
    if (i === null || i === undefined || !data[0].length) {
      this.readout.textContent = "";
      return;
    }
    const t = data[0][i];
    const n = data[1][i] ?? 0;
    this.readout.textContent = `${formatTime(t, false)} – ${formatTime(t + this.intervalMs, false).slice(11)}: ` +
      `${n.toLocaleString("en")} ${n === 1 ? "match" : "matches"}`;
  }

  /** A live-tail match: counted in its bucket; with `follow` (a range ending "now") the range slides to it. */
  bump(t: number, follow: boolean): void {
    if (follow && t > this.range[1]) {
      const shift = t - this.range[1];
      this.range = [this.range[0] + shift, t];
    }
    if (!this.plot || t < this.range[0] || t > this.range[1]) return;
    const xs = [...(this.plot.data[0] as number[])];
    const ys = [...(this.plot.data[1] as (number | null)[])];
    const aligned = Math.floor(t / this.intervalMs) * this.intervalMs; // the server's buckets are epoch-aligned
    const i = xs.indexOf(aligned);
    if (i >= 0) {
      ys[i] = (ys[i] ?? 0) + 1;
    } else {
      const at = xs.findIndex((x) => x > aligned);
      const pos = at < 0 ? xs.length : at;
      xs.splice(pos, 0, aligned);
      ys.splice(pos, 0, 1);
    }
    this.plot.setData([xs, ys]);
  }

  /** Draw `hist` over [fromMs, toMs]; the x axis spans the whole range even where nothing matched. */
  render(hist: Histogram, fromMs: number, toMs: number): void {
    this.intervalMs = hist.interval_ms;
    this.range = [fromMs, Math.max(toMs, fromMs + 1)];
    const xs = hist.buckets.map((b) => b.t);
    const ys = hist.buckets.map((b) => b.count);
    const data: uPlot.AlignedData = [xs, ys];
    if (this.plot) {
      this.plot.setData(data);
    } else {
      this.plot = new uPlot(this.options(), data, this.box);
    }
  }
}
