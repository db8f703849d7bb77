/**
 * A hand-written SVG line chart (no dependency): one panel per metric, one
 * line per series, optional horizontal target marks. Enough for "goodput
 * against loss rate" and readable in any browser or image viewer.
 */

export interface ChartSeries {
  label: string;
  points: readonly { x: number; y: number }[];
}

export interface ChartPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** Horizontal marks: drawn dashed across the panel at y with their label. */
  marks?: readonly { y: number; label: string }[];
  /** Point targets (a value wanted at one x): hollow triangles with their label. */
  targets?: readonly { x: number; y: number; label: string }[];
  yMin?: number;
}

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf', '#7f7f7f'];
const panelWidth = 480;
const panelHeight = 340;
const margin = { left: 64, right: 16, top: 36, bottom: 48 };

export function lineChartSvg(title: string, panels: readonly ChartPanel[], footnote = ''): string {
  const legendLabels = [...new Set(panels.flatMap((p) => p.series.map((s) => s.label)))];
  const legendHeight = 20 * Math.ceil(legendLabels.length / 3) + 10;
  const width = panelWidth * panels.length;
  const height = panelHeight + 40 + legendHeight + (footnote === '' ? 0 : 20);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  panels.forEach((panel, index) => parts.push(panelSvg(panel, index * panelWidth, 40, legendLabels)));
  legendLabels.forEach((label, i) => {
    const x = 20 + (i % 3) * (width / 3);
    const y = panelHeight + 40 + 20 * Math.floor(i / 3) + 14;
    const color = palette[i % palette.length]!;
    parts.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 24}" y2="${y - 4}" stroke="${color}" stroke-width="2.5"/>`);
    parts.push(`<circle cx="${x + 12}" cy="${y - 4}" r="3" fill="${color}"/>`);
    parts.push(`<text x="${x + 30}" y="${y}">${escapeXml(label)}</text>`);
  });
  if (footnote !== '') parts.push(`<text x="10" y="${height - 8}" fill="#555">${escapeXml(footnote)}</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function panelSvg(panel: ChartPanel, offsetX: number, offsetY: number, legendLabels: readonly string[]): string {
  const plotWidth = panelWidth - margin.left - margin.right;
  const plotHeight = panelHeight - margin.top - margin.bottom;
  const allPoints = panel.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = [...allPoints.map((p) => p.x), ...(panel.targets ?? []).map((t) => t.x)];
  const ys = [...allPoints.map((p) => p.y), ...(panel.marks ?? []).map((m) => m.y), ...(panel.targets ?? []).map((t) => t.y)];
  const xMax = niceCeil(Math.max(1, ...xs));
  const xMin = Math.min(0, ...xs);
  const yMax = niceCeil(Math.max(1e-9, ...ys) * 1.05);
  const yMin = panel.yMin ?? 0;
  const sx = (x: number): number => offsetX + margin.left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const sy = (y: number): number => offsetY + margin.top + plotHeight - ((y - yMin) / (yMax - yMin)) * plotHeight;
  const out: string[] = [`<g>`];
  out.push(`<text x="${offsetX + panelWidth / 2}" y="${offsetY + 20}" text-anchor="middle" font-weight="bold">${escapeXml(panel.title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const yValue = yMin + ((yMax - yMin) * i) / 5;
    const y = sy(yValue);
    out.push(`<line x1="${sx(xMin)}" y1="${y}" x2="${sx(xMax)}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${sx(xMin) - 6}" y="${y + 4}" text-anchor="end">${formatTick(yValue)}</text>`);
    const xValue = xMin + ((xMax - xMin) * i) / 5;
    out.push(`<text x="${sx(xValue)}" y="${sy(yMin) + 18}" text-anchor="middle">${formatTick(xValue)}</text>`);
  }
  out.push(`<rect x="${sx(xMin)}" y="${sy(yMax)}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${sx((xMin + xMax) / 2)}" y="${sy(yMin) + 38}" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`);
  const yLabelX = offsetX + 16;
  const yLabelY = sy((yMin + yMax) / 2);
  out.push(`<text x="${yLabelX}" y="${yLabelY}" text-anchor="middle" transform="rotate(-90 ${yLabelX} ${yLabelY})">${escapeXml(panel.yLabel)}</text>`);
  for (const mark of panel.marks ?? []) {
    const y = sy(mark.y);
    out.push(`<line x1="${sx(xMin)}" y1="${y}" x2="${sx(xMax)}" y2="${y}" stroke="#999" stroke-dasharray="5,4"/>`);
    out.push(`<text x="${sx(xMax) - 4}" y="${y - 4}" text-anchor="end" fill="#666" font-size="11">${escapeXml(mark.label)}</text>`);
  }
  for (const target of panel.targets ?? []) {
    const x = sx(target.x);
    const y = sy(target.y);
    out.push(`<polygon points="${x.toFixed(1)},${(y - 6).toFixed(1)} ${(x + 6).toFixed(1)},${(y + 5).toFixed(1)} ${(x - 6).toFixed(1)},${(y + 5).toFixed(1)}" fill="none" stroke="#555" stroke-width="1.5"/>`);
    // Near the right edge the label goes to the left of its mark, inside the panel.
    const leftOfMark = x > sx(xMax) - 90;
    out.push(
      `<text x="${(leftOfMark ? x - 8 : x + 8).toFixed(1)}" y="${(y + 16).toFixed(1)}" text-anchor="${leftOfMark ? 'end' : 'start'}" fill="#555" font-size="11">${escapeXml(target.label)}</text>`,
    );
  }
  for (const series of panel.series) {
    const color = palette[legendLabels.indexOf(series.label) % palette.length]!;
    const points = series.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    if (points.length === 0) continue;
    const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2.5"/>`);
    for (const p of points) {
      out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3.5" fill="${color}"><title>${escapeXml(`${series.label}: ${formatTick(p.x)} → ${formatTick(p.y)}`)}</title></circle>`);
    }
  }
  out.push('</g>');
  return out.join('\n');
}

/** The next "nice" number at or above x: 1, 2, 2.5, 5 times a power of ten. */
function niceCeil(x: number): number {
  const power = 10 ** Math.floor(Math.log10(x));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * power >= x) return step * power;
  return 10 * power;
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1).replace(/\.0$/, '');
  return value.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}
