// ECharts, with only the parts the console uses, so the chart chunk stays small.
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";

echarts.use([
  BarChart,
  LineChart,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  CanvasRenderer,
]);

export interface Series {
  name: string;
  points: [string, number][];
}

export function TimeChart({
  series,
  kind,
  label,
  format,
  dark,
}: {
  series: Series[];
  kind: "bar" | "line";
  label: string;
  format: (value: number) => string;
  dark: boolean;
}) {
  const element = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!element.current) return;
    const chart = echarts.init(element.current, dark ? "dark" : undefined, { renderer: "canvas" });
    chart.setOption({
      backgroundColor: "transparent",
      tooltip: { trigger: "axis", valueFormatter: (v: unknown) => format(Number(v)) },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 16, bottom: 40, containLabel: true },
      xAxis: { type: "time" },
      yAxis: { type: "value", axisLabel: { formatter: (v: number) => format(v) } },
      series: series.map((s) => ({
        name: s.name,
        type: kind,
        stack: kind === "bar" ? "total" : undefined,
        showSymbol: false,
        data: s.points,
      })),
    });
    const resize = () => chart.resize();
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      chart.dispose();
    };
  }, [series, kind, format, dark]);
  return <div ref={element} className="purser-chart" role="img" aria-label={label} />;
}
