// Typed constructors for dashboard JSON, checked against Grafana's own schema types
// (npm @grafana/schema, the version in package.json). monitoring/typescript.py writes
// one .ts file per dashboard that calls these with the dashboard's JSON as object
// literals: TypeScript flags excess properties only on literals, so every unknown
// field (and every wrong type) anywhere in a dashboard fails `tsc`.
import type {
  Dashboard,
  FieldConfig,
  FieldConfigSource,
  Panel,
  RowPanel,
} from '@grafana/schema';
import type * as bargauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';
import type * as heatmap from '@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen';
import type * as stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as statetimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type * as timeseries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

// A schema type as JSON spells it: string enums become the strings they stand for.
type Json<T> = unknown extends T
  ? unknown
  : T extends string
    ? `${T}`
    : T extends number | boolean | null | undefined
      ? T
      : T extends readonly (infer E)[]
        ? Json<E>[]
        : { [K in keyof T]: Json<T[K]> };

// The same with every field optional: Grafana fills in what a dashboard leaves out,
// but may not be given a field it does not know.
type JsonPartial<T> = unknown extends T
  ? unknown
  : T extends string
    ? `${T}`
    : T extends number | boolean | null | undefined
      ? T
      : T extends readonly (infer E)[]
        ? JsonPartial<E>[]
        : { [K in keyof T]?: JsonPartial<T[K]> };

type TypedPanel<Type extends string, Options, Custom> = Omit<
  Json<Panel>,
  'type' | 'options' | 'fieldConfig'
> & {
  type: Type;
  options: JsonPartial<Options>;
  fieldConfig: Omit<Json<FieldConfigSource>, 'defaults'> & {
    defaults: Omit<Json<FieldConfig>, 'custom'> & { custom?: JsonPartial<Custom> };
  };
};

export function timeseriesPanel(
  panel: TypedPanel<'timeseries', timeseries.Options, timeseries.FieldConfig>,
): Panel {
  return panel as unknown as Panel;
}

export function statPanel(panel: TypedPanel<'stat', stat.Options, never>): Panel {
  return panel as unknown as Panel;
}

export function bargaugePanel(panel: TypedPanel<'bargauge', bargauge.Options, never>): Panel {
  return panel as unknown as Panel;
}

export function heatmapPanel(
  panel: TypedPanel<'heatmap', heatmap.Options, heatmap.FieldConfig>,
): Panel {
  return panel as unknown as Panel;
}

export function stateTimelinePanel(
  panel: TypedPanel<'state-timeline', statetimeline.Options, statetimeline.FieldConfig>,
): Panel {
  return panel as unknown as Panel;
}

export function rowPanel(row: Omit<Json<RowPanel>, 'panels'> & { panels: Panel[] }): RowPanel {
  return row as unknown as RowPanel;
}

export function dashboard(
  board: Omit<Json<Dashboard>, 'panels'> & { panels: Array<Panel | RowPanel> },
): Dashboard {
  return board as unknown as Dashboard;
}
