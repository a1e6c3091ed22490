// GDScript checks that run without Godot: a tree-sitter-gdscript parse (syntax errors) and a lint
// for mistakes Godot 4.4 refuses at compile time but a parser does not see — type inference
// (`:=`) from Variant values, members that redefine native ones, class_name clashes, super calls
// into native parents, @onready misuse, instance members used from static functions — and for
// runtime script errors it can see statically (an object cast of an untested Variant, an untyped
// Array stored in a typed one), plus this project's rule that everything is statically
// typed. The type reasoning is deliberately partial: it flags a value only when it knows the value
// is a Variant, so it has false negatives, not false positives. Godot's own `--check-only` run
// remains the authority.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Parser = require('tree-sitter');
const GDScript = require('tree-sitter-gdscript');

const parser = new Parser();
parser.setLanguage(GDScript);

/** Parses GDScript text. */
export function parse(text) {
  return parser.parse(text);
}

/** ERROR and MISSING nodes of a parse, as {line, message}. */
export function syntaxErrors(tree, text) {
  const problems = [];
  const visit = (node) => {
    if (node.type === 'ERROR' || node.isMissing) {
      const near = text.slice(node.startIndex, node.startIndex + 40).split('\n')[0];
      problems.push({
        line: node.startPosition.row + 1,
        rule: 'syntax',
        message: node.isMissing ? `missing ${node.type} near "${near}"` : `syntax error near "${near}"`,
      });
      if (node.type === 'ERROR') return;
    }
    for (const child of node.children) visit(child);
  };
  visit(tree.rootNode);
  return problems;
}

// --- What Godot 4.4 knows -------------------------------------------------------------------------

/** Global functions whose return type is Variant (`var x := min(a, b)` does not compile). */
const VARIANT_FUNCTIONS = new Set([
  'abs',
  'ceil',
  'clamp',
  'floor',
  'lerp',
  'max',
  'min',
  'round',
  'sign',
  'snapped',
  'wrap',
  'str_to_var',
  'bytes_to_var',
  'bytes_to_var_with_objects',
  'type_convert',
  'instance_from_id',
]);
/** Methods that return Variant on the built-in types that have them. */
const VARIANT_METHODS = new Set([
  'get',
  'get_meta',
  'get_indexed',
  'get_setting',
  'reduce',
  'pick_random',
  'front',
  'back',
  'pop_front',
  'pop_back',
  'pop_at',
  'find_key',
  'call',
  'callv',
  'get_or_add',
]);
/** Typed results of common global functions. */
const TYPED_FUNCTIONS = {
  str: 'String',
  int: 'int',
  float: 'float',
  bool: 'bool',
  len: 'int',
  range: 'Array',
  typeof: 'int',
  minf: 'float',
  maxf: 'float',
  clampf: 'float',
  absf: 'float',
  lerpf: 'float',
  lerp_angle: 'float',
  snappedf: 'float',
  floorf: 'float',
  ceilf: 'float',
  roundf: 'float',
  signf: 'float',
  wrapf: 'float',
  mini: 'int',
  maxi: 'int',
  clampi: 'int',
  absi: 'int',
  roundi: 'int',
  floori: 'int',
  ceili: 'int',
  signi: 'int',
  wrapi: 'int',
  snappedi: 'int',
  sin: 'float',
  cos: 'float',
  tan: 'float',
  exp: 'float',
  sqrt: 'float',
  pow: 'float',
  atan2: 'float',
  randf: 'float',
  randi: 'int',
  randf_range: 'float',
  randi_range: 'int',
  is_equal_approx: 'bool',
  is_zero_approx: 'bool',
  is_instance_valid: 'bool',
  error_string: 'String',
  var_to_str: 'String',
  hash: 'int',
  load: 'Resource',
  preload: 'Resource',
};
const ELEMENT_TYPES = {
  String: 'String',
  PackedStringArray: 'String',
  PackedByteArray: 'int',
  PackedInt32Array: 'int',
  PackedInt64Array: 'int',
  PackedFloat32Array: 'float',
  PackedFloat64Array: 'float',
  PackedVector2Array: 'Vector2',
  PackedVector3Array: 'Vector3',
  PackedColorArray: 'Color',
};

/** Native members (properties, methods, signals) per class, and each class's parent. */
const NATIVE = {
  Object: {
    parent: null,
    members: `add_user_signal call call_deferred callv can_translate_messages cancel_free connect disconnect
      emit_signal free get get_class get_incoming_connections get_indexed get_instance_id get_meta
      get_meta_list get_method_argument_count get_method_list get_property_list get_script
      get_signal_connection_list get_signal_list has_meta has_method has_signal has_user_signal
      is_blocking_signals is_class is_connected is_queued_for_deletion notification
      notify_property_list_changed property_can_revert property_get_revert remove_meta
      remove_user_signal set set_block_signals set_deferred set_indexed set_message_translation
      set_meta set_script to_string tr tr_n property_list_changed script_changed`,
  },
  RefCounted: { parent: 'Object', members: 'get_reference_count init_ref reference unreference' },
  Resource: {
    parent: 'RefCounted',
    members: `resource_local_to_scene resource_name resource_path resource_scene_unique_id
      duplicate emit_changed get_local_scene get_rid setup_local_to_scene take_over_path changed setup_local_to_scene_requested`,
  },
  MainLoop: { parent: 'Object', members: 'on_request_permissions_result' },
  SceneTree: {
    parent: 'MainLoop',
    members: `auto_accept_quit current_scene debug_collisions_hint debug_navigation_hint debug_paths_hint
      edited_scene_root multiplayer_poll paused physics_interpolation quit_on_go_back root
      call_group call_group_flags change_scene_to_file change_scene_to_packed create_timer create_tween
      get_first_node_in_group get_frame get_multiplayer get_node_count get_node_count_in_group
      get_nodes_in_group get_processed_tweens has_group notify_group notify_group_flags queue_delete quit
      reload_current_scene set_group set_group_flags set_multiplayer unload_current_scene node_added
      node_configuration_warning_changed node_removed node_renamed physics_frame process_frame
      tree_changed tree_process_mode_changed scene_changed`,
  },
  Node: {
    parent: 'Object',
    members: `auto_translate_mode editor_description multiplayer name owner physics_interpolation_mode
      process_mode process_physics_priority process_priority process_thread_group
      process_thread_group_order process_thread_messages scene_file_path unique_name_in_owner
      add_child add_sibling add_to_group atr atr_n call_deferred_thread_group call_thread_safe
      can_process create_tween duplicate find_child find_children find_parent get_child
      get_child_count get_children get_groups get_index get_last_exclusive_window
      get_multiplayer_authority get_node get_node_and_resource get_node_or_null get_parent get_path
      get_path_to get_physics_process_delta_time get_process_delta_time
      get_scene_instance_load_placeholder get_tree get_tree_string get_tree_string_pretty
      get_viewport get_window has_node has_node_and_resource is_ancestor_of is_displayed_folded
      is_editable_instance is_greater_than is_in_group is_inside_tree is_multiplayer_authority
      is_node_ready is_part_of_edited_scene is_physics_processing is_physics_processing_internal
      is_processing is_processing_input is_processing_internal is_processing_shortcut_input
      is_processing_unhandled_input is_processing_unhandled_key_input move_child
      notify_deferred_thread_group notify_thread_safe print_orphan_nodes print_tree
      print_tree_pretty propagate_call propagate_notification queue_free remove_child
      remove_from_group reparent replace_by request_ready reset_physics_interpolation rpc rpc_config
      rpc_id set_deferred_thread_group set_display_folded set_editable_instance
      set_multiplayer_authority set_physics_process set_physics_process_internal set_process
      set_process_input set_process_internal set_process_shortcut_input set_process_unhandled_input
      set_process_unhandled_key_input set_scene_instance_load_placeholder set_thread_safe
      update_configuration_warnings child_entered_tree child_exiting_tree child_order_changed
      editor_description_changed editor_state_changed ready renamed replacing_by tree_entered
      tree_exited tree_exiting`,
  },
  CanvasItem: {
    parent: 'Node',
    members: `clip_children light_mask material modulate self_modulate show_behind_parent texture_filter
      texture_repeat top_level use_parent_material visibility_layer visible y_sort_enabled z_as_relative
      z_index draw_animation_slice draw_arc draw_char draw_char_outline draw_circle
      draw_colored_polygon draw_dashed_line draw_end_animation draw_lcd_texture_rect_region draw_line
      draw_mesh draw_msdf_texture_rect_region draw_multiline draw_multiline_colors
      draw_multiline_string draw_multiline_string_outline draw_multimesh draw_polygon draw_polyline
      draw_polyline_colors draw_primitive draw_rect draw_set_transform draw_set_transform_matrix
      draw_string draw_string_outline draw_style_box draw_texture draw_texture_rect
      draw_texture_rect_region force_update_transform get_canvas get_canvas_item
      get_canvas_layer_node get_canvas_transform get_global_mouse_position get_global_transform
      get_global_transform_with_canvas get_local_mouse_position get_screen_transform get_transform
      get_viewport_rect get_viewport_transform get_visibility_layer_bit get_world_2d hide
      is_local_transform_notification_enabled is_transform_notification_enabled is_visible_in_tree
      make_canvas_position_local make_input_local move_to_front queue_redraw
      set_notify_local_transform set_notify_transform set_visibility_layer_bit show draw hidden
      item_rect_changed visibility_changed`,
  },
  Node2D: {
    parent: 'CanvasItem',
    members: `global_position global_rotation global_rotation_degrees global_scale global_skew
      global_transform position rotation rotation_degrees scale skew transform apply_scale
      get_angle_to get_relative_transform_to_parent global_translate look_at move_local_x
      move_local_y rotate to_global to_local translate`,
  },
  Node3D: {
    parent: 'Node',
    members: `basis global_basis global_position global_rotation global_rotation_degrees global_transform
      position quaternion rotation rotation_degrees rotation_edit_mode rotation_order scale top_level
      transform visibility_parent visible add_gizmo clear_gizmos clear_subgizmo_selection
      force_update_transform get_gizmos get_global_transform_interpolated get_parent_node_3d
      get_world_3d global_rotate global_scale global_translate hide
      is_local_transform_notification_enabled is_scale_disabled is_transform_notification_enabled
      is_visible_in_tree look_at look_at_from_position orthonormalize rotate rotate_object_local
      rotate_x rotate_y rotate_z scale_object_local set_disable_scale set_identity
      set_ignore_transform_notification set_notify_local_transform set_notify_transform
      set_subgizmo_selection show to_global to_local translate translate_object_local update_gizmos
      visibility_changed`,
  },
  Control: {
    parent: 'CanvasItem',
    members: `anchor_bottom anchor_left anchor_right anchor_top clip_contents custom_minimum_size
      focus_mode focus_neighbor_bottom focus_neighbor_left focus_neighbor_right focus_neighbor_top
      focus_next focus_previous global_position grow_horizontal grow_vertical layout_direction
      localize_numeral_system mouse_default_cursor_shape mouse_filter mouse_force_pass_scroll_events
      offset_bottom offset_left offset_right offset_top pivot_offset position rotation
      rotation_degrees scale shortcut_context size size_flags_horizontal size_flags_stretch_ratio
      size_flags_vertical theme theme_type_variation tooltip_text accept_event
      add_theme_color_override add_theme_constant_override add_theme_font_override
      add_theme_font_size_override add_theme_icon_override add_theme_stylebox_override
      begin_bulk_theme_override end_bulk_theme_override find_next_valid_focus find_prev_valid_focus
      find_valid_focus_neighbor force_drag get_anchor get_begin get_combined_minimum_size
      get_cursor_shape get_end get_focus_neighbor get_global_rect get_minimum_size get_offset
      get_parent_area_size get_parent_control get_rect get_screen_position get_theme_color
      get_theme_constant get_theme_font get_theme_font_size get_theme_icon get_theme_stylebox
      get_tooltip grab_click_focus grab_focus has_focus has_theme_color has_theme_constant
      has_theme_font has_theme_font_size has_theme_icon has_theme_stylebox is_drag_successful
      is_layout_rtl release_focus remove_theme_color_override remove_theme_constant_override
      remove_theme_font_override remove_theme_font_size_override remove_theme_icon_override
      remove_theme_stylebox_override reset_size set_anchor set_anchor_and_offset
      set_anchors_and_offsets_preset set_anchors_preset set_begin set_drag_forwarding
      set_drag_preview set_end set_focus_neighbor set_global_position set_offset set_offsets_preset
      set_position set_size update_minimum_size warp_mouse focus_entered focus_exited gui_input
      minimum_size_changed mouse_entered mouse_exited resized size_flags_changed theme_changed`,
  },
  Container: { parent: 'Control', members: 'fit_child_in_rect queue_sort pre_sort_children sort_children' },
  BoxContainer: { parent: 'Container', members: 'alignment vertical add_spacer' },
  VBoxContainer: { parent: 'BoxContainer', members: '' },
  HBoxContainer: { parent: 'BoxContainer', members: '' },
  EditorPlugin: {
    parent: 'Node',
    members: `add_autoload_singleton add_context_menu_plugin add_control_to_bottom_panel
      add_control_to_container add_control_to_dock add_custom_type add_debugger_plugin
      add_export_platform add_export_plugin add_import_plugin add_inspector_plugin
      add_node_3d_gizmo_plugin add_resource_conversion_plugin add_scene_format_importer_plugin
      add_scene_post_import_plugin add_tool_menu_item add_tool_submenu_item
      add_translation_parser_plugin add_undo_redo_inspector_hook_callback get_editor_interface
      get_export_as_menu get_plugin_version get_script_create_dialog get_undo_redo
      hide_bottom_panel make_bottom_panel_item_visible queue_save_layout remove_autoload_singleton
      remove_context_menu_plugin remove_control_from_bottom_panel remove_control_from_container
      remove_control_from_docks remove_custom_type remove_debugger_plugin remove_export_platform
      remove_export_plugin remove_import_plugin remove_inspector_plugin remove_node_3d_gizmo_plugin
      remove_resource_conversion_plugin remove_scene_format_importer_plugin
      remove_scene_post_import_plugin remove_tool_menu_item remove_translation_parser_plugin
      remove_undo_redo_inspector_hook_callback set_dock_tab_icon set_force_draw_over_forwarding_enabled
      set_input_event_forwarding_always_enabled update_overlays main_screen_changed
      project_settings_changed resource_saved scene_changed scene_closed`,
  },
};
for (const entry of Object.values(NATIVE)) entry.names = new Set(entry.members.split(/\s+/).filter(Boolean));

/** Native classes a class_name must not take (the ones this project meets, and common ones). */
const NATIVE_CLASSES = new Set([
  ...Object.keys(NATIVE),
  'Label',
  'Label3D',
  'Button',
  'LineEdit',
  'Tree',
  'TreeItem',
  'OptionButton',
  'ItemList',
  'Timer',
  'HTTPRequest',
  'HTTPClient',
  'WebSocketPeer',
  'JSON',
  'Time',
  'OS',
  'Engine',
  'ProjectSettings',
  'Camera2D',
  'Camera3D',
  'MeshInstance3D',
  'Sprite2D',
  'Sprite3D',
  'Window',
  'Viewport',
  'PackedScene',
  'Script',
  'GDScript',
  'Image',
  'Texture2D',
  'Material',
  'Mesh',
  'Node',
  'Signal',
  'Callable',
  'Array',
  'Dictionary',
  'String',
  'Color',
  'Vector2',
  'Vector3',
  'Input',
  'ResourceLoader',
  'FileAccess',
  'DirAccess',
  'Marshalls',
  'ClassDB',
  'Tween',
  'AnimationPlayer',
]);

/** Virtual methods a script may define although the native class "has" them. */
const VIRTUALS = /^_/;

/** Types whose `as` cast is a value conversion, not an object cast. */
const BUILTIN_TYPES = new Set(
  `Variant bool int float String StringName NodePath Array Dictionary Vector2 Vector2i Vector3 Vector3i
  Vector4 Vector4i Rect2 Rect2i Transform2D Transform3D Plane Quaternion AABB Basis Projection Color RID
  Callable Signal PackedByteArray PackedInt32Array PackedInt64Array PackedFloat32Array PackedFloat64Array
  PackedStringArray PackedVector2Array PackedVector3Array PackedVector4Array PackedColorArray`.split(/\s+/),
);
/** Parents under which an identifier is read as a value (not a type, a name or a method). */
const VALUE_PARENTS = new Set([
  'binary_operator',
  'unary_operator',
  'arguments',
  'return_statement',
  'expression_statement',
  'conditional_expression',
  'parenthesized_expression',
  'array',
  'assignment',
  'augmented_assignment',
  'variable_statement',
]);

// --- Script description ---------------------------------------------------------------------------

const named = (node) => node.namedChildren;
const field = (node, name) => node.childForFieldName(name);
const typeText = (node) => (node ? node.text.replace(/\s+/g, '') : null);
const lineOf = (node) => node.startPosition.row + 1;

/** Top-level facts of a script: class_name, extends, members and functions with their types. */
export function describe(tree) {
  const info = { className: null, extendsName: null, extendsPath: null, members: new Map(), functions: new Map(), duplicates: [] };
  const seen = new Map();
  const remember = (name, node) => {
    if (!name) return;
    if (seen.has(name)) info.duplicates.push({ name, node, first: seen.get(name) });
    else seen.set(name, node);
  };
  for (const node of named(tree.rootNode)) {
    if (node.type === 'class_name_statement') info.className = field(node, 'name')?.text ?? named(node)[0]?.text ?? null;
    if (node.type === 'extends_statement') {
      const target = named(node)[0];
      if (target?.type === 'string') info.extendsPath = target.text.slice(1, -1);
      else info.extendsName = target?.text ?? null;
    }
    if (node.type === 'variable_statement' || node.type === 'const_statement') {
      const name = field(node, 'name')?.text;
      const type = field(node, 'type');
      remember(name, node);
      info.members.set(name, {
        kind: node.type === 'const_statement' ? 'const' : 'var',
        type: type?.type === 'inferred_type' ? null : typeText(type),
        inferred: type?.type === 'inferred_type',
        isStatic: node.children.some((c) => c.type === 'static_keyword'),
        node,
      });
    }
    if (node.type === 'signal_statement') {
      remember(field(node, 'name')?.text, node);
      info.members.set(field(node, 'name')?.text, { kind: 'signal', type: 'Signal', node });
    }
    if (node.type === 'function_definition') {
      const name = field(node, 'name')?.text;
      const params = named(field(node, 'parameters') ?? node)
        .filter((p) => p.parent?.type === 'parameters')
        .map((p) => ({
          name: named(p)[0]?.text ?? p.text,
          optional: p.type === 'default_parameter' || p.type === 'typed_default_parameter',
        }));
      const isStatic = node.children.some((c) => c.type === 'static_keyword' || c.text === 'static');
      remember(name, node);
      info.functions.set(name, { returnType: typeText(field(node, 'return_type')), params, isStatic, node });
    }
    if (node.type === 'class_definition' || node.type === 'enum_definition') {
      const name = field(node, 'name')?.text;
      if (name) info.members.set(name, { kind: node.type === 'enum_definition' ? 'enum' : 'class', type: null, node });
    }
  }
  return info;
}

/** Resolves each script's parent: a project script (by class_name or path) or a native class. */
export function buildIndex(scripts) {
  const byClass = new Map();
  const byPath = new Map();
  for (const script of scripts) {
    if (script.info.className) byClass.set(script.info.className, script);
    byPath.set(script.resPath, script);
  }
  const parentOf = (script) => {
    if (script.info.extendsPath) return { script: byPath.get(script.info.extendsPath) ?? null, native: null };
    const name = script.info.extendsName ?? 'RefCounted';
    if (byClass.has(name)) return { script: byClass.get(name), native: null };
    return { script: null, native: name };
  };
  return { byClass, byPath, parentOf };
}

/** The native class a script ends at, and the project scripts on the way (itself first). */
function chainOf(script, index) {
  const scripts = [];
  let current = script;
  let native = null;
  for (let guard = 0; current && guard < 32; guard++) {
    scripts.push(current);
    const parent = index.parentOf(current);
    if (parent.native) {
      native = parent.native;
      break;
    }
    current = parent.script;
  }
  return { scripts, native };
}

function nativeNames(nativeName) {
  const names = new Set();
  let known = false;
  for (let name = nativeName; name && NATIVE[name]; name = NATIVE[name].parent) {
    known = true;
    for (const member of NATIVE[name].names) names.add(member);
  }
  return { names, known };
}

// --- Type inference (partial, never guessing "Variant") --------------------------------------------

const COMPARISONS = new Set(['==', '!=', '<', '>', '<=', '>=', 'and', 'or', '&&', '||', 'in', 'is', 'not']);

class Typer {
  constructor(script, index) {
    this.script = script;
    this.index = index;
    this.scope = new Map();
  }

  /** The type of a class member of a project script (walking its parents), or undefined. */
  memberOf(script, name) {
    for (const current of chainOf(script, this.index).scripts) {
      const member = current.info.members.get(name);
      if (member) return member.kind === 'var' && !member.type && !member.inferred ? 'Variant' : (member.type ?? '?');
    }
    return undefined;
  }

  functionOf(script, name) {
    const fn = this.definitionOf(script, name);
    return fn ? (fn.returnType ?? 'Variant') : undefined;
  }

  definitionOf(script, name) {
    for (const current of chainOf(script, this.index).scripts) {
      const fn = current.info.functions.get(name);
      if (fn) return fn;
    }
    return undefined;
  }

  lookup(name) {
    if (this.scope.has(name)) return this.scope.get(name);
    if (name === 'self') return `script:${this.script.resPath}`;
    const member = this.memberOf(this.script, name);
    if (member !== undefined) return member;
    if (this.index.byClass.has(name)) return `class:${name}`;
    if (/^[A-Z]/.test(name)) return `class:${name}`;
    return '?';
  }

  scriptOfType(type) {
    if (!type) return null;
    if (type.startsWith('script:')) return this.index.byPath.get(type.slice(7)) ?? null;
    return this.index.byClass.get(type) ?? null;
  }

  member(type, name) {
    if (type === 'Variant' || type === 'Dictionary') return 'Variant';
    if (type.startsWith('class:')) {
      const script = this.index.byClass.get(type.slice(6));
      return script ? (this.memberOf(script, name) ?? '?') : '?';
    }
    const script = this.scriptOfType(type);
    return script ? (this.memberOf(script, name) ?? '?') : '?';
  }

  method(type, name) {
    if (type === 'Variant') return 'Variant';
    if (type.startsWith('class:')) {
      const className = type.slice(6);
      if (className === 'JSON' && name === 'parse_string') return 'Variant';
      if (className === 'ProjectSettings' && name === 'get_setting') return 'Variant';
      const script = this.index.byClass.get(className);
      if (script) return name === 'new' ? className : (this.functionOf(script, name) ?? '?');
      return name === 'new' ? className : '?';
    }
    const script = this.scriptOfType(type);
    if (script) {
      const returned = this.functionOf(script, name);
      if (returned !== undefined) return returned;
    }
    if (VARIANT_METHODS.has(name)) return 'Variant';
    if (type === 'Dictionary' && (name === 'keys' || name === 'values')) return 'Array';
    if (/^Array(\[.+\])?$/.test(type) && name === 'map') return 'Array';
    if (name === 'duplicate') return type;
    return '?';
  }

  infer(node) {
    if (!node) return '?';
    switch (node.type) {
      case 'null':
        return 'Variant';
      case 'true':
      case 'false':
        return 'bool';
      case 'integer':
        return 'int';
      case 'float':
        return 'float';
      case 'string':
        return 'String';
      case 'string_name':
        return 'StringName';
      case 'node_path':
        return 'NodePath';
      case 'array':
        return 'Array';
      case 'dictionary':
        return 'Dictionary';
      case 'lambda':
        return 'Callable';
      case 'get_node':
        return 'Node';
      case 'await_expression':
        return 'Variant';
      case 'parenthesized_expression':
        return this.infer(named(node)[0]);
      case 'identifier':
        return this.lookup(node.text);
      case 'unary_operator': {
        const op = node.child(0).text;
        return op === 'not' || op === '!' ? 'bool' : this.infer(named(node)[0]);
      }
      case 'binary_operator': {
        const [left, right] = named(node);
        const op = node.children.find((c) => !c.isNamed)?.text ?? '';
        if (op === 'as') return typeText(right);
        if (COMPARISONS.has(op) || op.startsWith('not')) return 'bool';
        const l = this.infer(left);
        const r = this.infer(right);
        if (l === 'Variant' || r === 'Variant') return 'Variant';
        if (op === '%' && l === 'String') return 'String';
        if (l === r) return l;
        if ((l === 'int' && r === 'float') || (l === 'float' && r === 'int')) return 'float';
        return '?';
      }
      case 'conditional_expression': {
        const [whenTrue, , whenFalse] = named(node);
        const a = this.infer(whenTrue);
        const b = this.infer(whenFalse);
        if (a === 'Variant' || b === 'Variant') return 'Variant';
        return a === b ? a : '?';
      }
      case 'call': {
        const callee = named(node)[0];
        if (callee?.type !== 'identifier') return '?';
        const name = callee.text;
        if (VARIANT_FUNCTIONS.has(name)) return 'Variant';
        if (TYPED_FUNCTIONS[name]) return TYPED_FUNCTIONS[name];
        const own = this.functionOf(this.script, name);
        if (own !== undefined) return own;
        if (/^[A-Z]/.test(name)) return name;
        return '?';
      }
      case 'attribute': {
        const parts = named(node);
        let type = this.infer(parts[0]);
        for (const part of parts.slice(1)) {
          if (part.type === 'identifier') type = this.member(type, part.text);
          else if (part.type === 'attribute_call') type = this.method(type, named(part)[0]?.text ?? '');
          else type = '?';
          if (type === '?') return '?';
        }
        return type;
      }
      case 'subscript': {
        const [base, args] = named(node);
        const baseType = this.infer(base);
        if (baseType === 'Variant' || baseType === 'Dictionary' || baseType === 'Array') return 'Variant';
        const typedArray = /^Array\[(.+)\]$/.exec(baseType);
        if (typedArray) return typedArray[1];
        const typedDictionary = /^Dictionary\[.+?,(.+)\]$/.exec(baseType);
        if (typedDictionary) return typedDictionary[1];
        if (ELEMENT_TYPES[baseType]) return ELEMENT_TYPES[baseType];
        // A string key is a dictionary access: its value is a Variant.
        if (named(args ?? node)[0]?.type === 'string' && baseType === '?') return 'Variant';
        return '?';
      }
      default:
        return '?';
    }
  }

  declare(name, type) {
    this.scope.set(name, type);
  }
}

// --- The lint ------------------------------------------------------------------------------------

/**
 * Lints one described script. `project` holds the autoload names and every class_name with its
 * file, for the clash checks.
 */
export function lint(script, index, project = { autoloads: new Set(), classNames: new Map() }) {
  const { tree, text, info } = script;
  const problems = [];
  const report = (node, rule, message) => problems.push({ line: typeof node === 'number' ? node : lineOf(node), rule, message });

  // class_name clashes: autoloads, native classes, other scripts.
  if (info.className) {
    if (project.autoloads.has(info.className))
      report(1, 'class-name', `class_name ${info.className} equals an autoload's name: Godot refuses both`);
    if (NATIVE_CLASSES.has(info.className)) report(1, 'class-name', `class_name ${info.className} hides a native class`);
    const owners = project.classNames.get(info.className) ?? [];
    if (owners.length > 1) report(1, 'class-name', `class_name ${info.className} is declared by ${owners.join(', ')}`);
  }

  for (const duplicate of info.duplicates) {
    report(duplicate.node, 'duplicate', `"${duplicate.name}" is already declared on line ${lineOf(duplicate.first)}`);
  }

  // Members that redefine native ones (a property, method or signal of the native base).
  const chain = chainOf(script, index);
  const natives = nativeNames(chain.native);
  if (natives.known) {
    for (const [name, member] of info.members) {
      if (natives.names.has(name))
        report(member.node, 'native-member', `"${name}" redefines a member of the native ${chain.native}: rename it`);
    }
    for (const [name, fn] of info.functions) {
      if (!VIRTUALS.test(name) && natives.names.has(name)) {
        report(
          fn.node,
          'native-member',
          `func ${name}() overrides a native method of ${chain.native}, which the engine never calls (an error in 4.4): rename it`,
        );
      }
    }
  }

  const typer = new Typer(script, index);
  const walk = (node, inFunction) => {
    switch (node.type) {
      case 'function_definition':
      case 'lambda': {
        if (!field(node, 'return_type'))
          report(node, 'static-types', `${node.type === 'lambda' ? 'lambda' : `func ${field(node, 'name')?.text}()`} has no return type`);
        for (const param of named(field(node, 'parameters') ?? node).filter((p) => p.parent?.type === 'parameters')) {
          checkParameter(param);
        }
        break;
      }
      case 'signal_statement':
        for (const param of named(field(node, 'parameters') ?? node).filter((p) => p.parent?.type === 'parameters')) {
          if (param.type !== 'typed_parameter') report(param, 'static-types', `signal parameter "${param.text}" has no type`);
        }
        break;
      case 'variable_statement':
        checkVariable(node, inFunction);
        break;
      case 'for_statement': {
        const [variable] = named(node);
        const type = field(node, 'type');
        if (!type) report(node, 'static-types', `for loop variable "${variable?.text}" has no type`);
        if (variable) typer.declare(variable.text, type ? typeText(type) : '?');
        break;
      }
      case 'attribute': {
        const [base, call] = named(node);
        if (base?.text === 'super' && call?.type === 'attribute_call') checkSuper(node, named(call)[0]?.text ?? '');
        else checkAttributeCalls(node);
        break;
      }
      case 'call': {
        const callee = named(node)[0];
        if (callee?.type === 'identifier' && !typer.scope.has(callee.text)) {
          const fn = typer.definitionOf(script, callee.text);
          if (fn) checkArity(node, callee.text, fn, argumentCount(node));
          const staticFn = staticFunctionOf(node);
          if (staticFn && ((fn && !fn.isStatic) || (!fn && natives.known && natives.names.has(callee.text))))
            report(
              node,
              'static-context',
              `static func ${field(staticFn, 'name')?.text}() calls the non-static ${callee.text}(): Godot refuses it (make ${callee.text}() static or the caller not)`,
            );
        }
        break;
      }
      case 'identifier':
        checkStaticReference(node);
        break;
      case 'binary_operator':
        if (node.children.find((c) => !c.isNamed)?.text === 'as') checkVariantCast(node);
        break;
      case 'return_statement': {
        const fn = enclosingFunction(node);
        const returnType = typeText(fn ? field(fn, 'return_type') : null) ?? '';
        const value = named(node)[0];
        if (/^Array\[/.test(returnType) && value && value.type !== 'array' && typer.infer(value) === 'Array')
          report(
            node,
            'typed-array',
            `returns an untyped Array from a function declared -> ${returnType}: a runtime error in Godot 4.4 (build a typed array, or ${returnType}.assign(…))`,
          );
        break;
      }
      default:
        break;
    }
    const entersFunction = inFunction || node.type === 'function_definition' || node.type === 'lambda';
    for (const child of named(node)) walk(child, entersFunction);
  };

  function checkParameter(param) {
    const name = named(param)[0]?.text ?? param.text;
    if (param.type === 'identifier' || param.type === 'default_parameter') {
      report(param, 'static-types', `parameter "${name}" has no type`);
      typer.declare(name, 'Variant');
      return;
    }
    const type = field(param, 'type');
    if (type?.type === 'inferred_type') {
      const inferred = typer.infer(field(param, 'value'));
      if (inferred === 'Variant') report(param, 'variant-inference', `parameter "${name} :=" infers from a Variant: declare its type`);
      typer.declare(name, inferred);
    } else {
      typer.declare(name, typeText(type) ?? 'Variant');
    }
  }

  function checkVariable(node, inFunction) {
    const name = field(node, 'name')?.text;
    const type = field(node, 'type');
    const value = field(node, 'value');
    const annotations = named(node)
      .filter((n) => n.type === 'annotations')
      .flatMap((n) => named(n))
      .map((a) => named(a)[0]?.text);
    if (!type) {
      report(node, 'static-types', `var ${name} has no type: declare it (var ${name}: Type) or infer it (:=)`);
      if (inFunction) typer.declare(name, 'Variant');
    } else if (type.type === 'inferred_type') {
      const inferred = typer.infer(value);
      if (inferred === 'Variant') {
        const shown = value?.text.split('\n')[0].slice(0, 60) ?? '';
        const why = value?.type === 'await_expression' ? 'an awaited value' : value?.type === 'null' ? 'null' : `"${shown}", a Variant`;
        report(
          node,
          'variant-inference',
          `var ${name} := infers from ${why}, which Godot 4.4 refuses: declare the type (var ${name}: Type = …)`,
        );
      }
      if (inFunction) typer.declare(name, inferred === 'Variant' ? 'Variant' : inferred);
    } else {
      const declared = typeText(type);
      if (/^Array\[/.test(declared) && value && value.type !== 'array' && typer.infer(value) === 'Array')
        report(
          node,
          'typed-array',
          `var ${name}: ${declared} is assigned an untyped Array: a runtime error in Godot 4.4 (declare it = [] and call ${name}.assign(…))`,
        );
      if (inFunction) typer.declare(name, declared);
    }
    if (!inFunction) {
      if (annotations.includes('onready') && annotations.includes('export'))
        report(node, 'onready', `var ${name} is both @export and @onready: the export is overwritten`);
      const usesNode = value && (value.type === 'get_node' || /\bget_node(_or_null)?\(/.test(value.text) || /^\$/.test(value.text));
      if (usesNode && !annotations.includes('onready')) report(node, 'onready', `var ${name} reads a node at construction: add @onready`);
    }
  }

  /** The function or lambda a node is in, or null. */
  function enclosingFunction(node) {
    for (let up = node.parent; up; up = up.parent) if (up.type === 'function_definition' || up.type === 'lambda') return up;
    return null;
  }

  /** The top-level static function a node is in (lambdas in it included), or null. */
  function staticFunctionOf(node) {
    for (let up = node.parent; up; up = up.parent) {
      if (up.type !== 'function_definition') continue;
      const topLevel = up.parent?.type === 'source';
      return topLevel && up.children.some((c) => c.type === 'static_keyword') ? up : null;
    }
    return null;
  }

  // In a static function: self, and members of the instance (its vars, the native base's
  // properties and methods) do not exist.
  function checkStaticReference(node) {
    const staticFn = staticFunctionOf(node);
    if (!staticFn) return;
    const name = node.text;
    const parent = node.parent;
    if (name === 'self') {
      report(node, 'static-context', `static func ${field(staticFn, 'name')?.text}() uses self: a static function has no instance`);
      return;
    }
    if (!parent || typer.scope.has(name)) return;
    const first = named(parent)[0]?.id === node.id;
    const read =
      (VALUE_PARENTS.has(parent.type) && (parent.type !== 'variable_statement' || field(parent, 'value')?.id === node.id)) ||
      ((parent.type === 'attribute' || parent.type === 'subscript') && first);
    if (!read) return;
    let instanceMember = null;
    for (const current of chainOf(script, index).scripts) {
      const member = current.info.members.get(name);
      const fn = current.info.functions.get(name);
      if (member) instanceMember = member.kind === 'var' && !member.isStatic;
      else if (fn) instanceMember = !fn.isStatic;
      if (instanceMember !== null) break;
    }
    if (instanceMember === null) instanceMember = natives.known && natives.names.has(name);
    if (instanceMember)
      report(node, 'static-context', `static func ${field(staticFn, 'name')?.text}() reads the instance member ${name}: Godot refuses it`);
  }

  // `x as SomeClass` where x is a Variant: when x holds a String, a Dictionary or a number, Godot
  // stops with "Invalid cast: can't convert a non-object value to an object type" (an object of
  // another class merely gives null). Accepted when x was tested with `is` before, or in the same
  // statement (`x is T and (x as T)…`, `(x as T)… if x is T else …`).
  function checkVariantCast(node) {
    const [value, target] = named(node);
    if (value?.type !== 'identifier' || typer.scope.get(value.text) !== 'Variant') return;
    const typeName = typeText(target) ?? '';
    const base = typeName.replace(/\[.*$/, '');
    if (!/^[A-Z]/.test(base) || BUILTIN_TYPES.has(base)) return;
    const fn = enclosingFunction(node);
    const before = text.slice(fn ? fn.startIndex : 0, node.startIndex);
    let statement = node;
    while (statement.parent && !/_statement$/.test(statement.type)) statement = statement.parent;
    const guard = new RegExp(`\\b${value.text}\\s+is\\s+`);
    if (guard.test(before) || guard.test(statement.text)) return;
    report(
      node,
      'variant-cast',
      `${value.text} as ${typeName}: ${value.text} is a Variant, and a cast of a String, Dictionary or number to an object type is a runtime error: test "${value.text} is ${typeName}" first`,
    );
  }

  function argumentCount(callNode) {
    const args = named(callNode).find((c) => c.type === 'arguments');
    return args ? named(args).length : 0;
  }

  function checkArity(node, name, fn, given) {
    const required = fn.params.filter((p) => !p.optional).length;
    if (given < required || given > fn.params.length) {
      const wanted = required === fn.params.length ? `${required}` : `${required}–${fn.params.length}`;
      report(node, 'call', `${name}() takes ${wanted} arguments, ${given} given`);
    }
  }

  // Calls on project classes: the function must exist (for classes whose native base the lint
  // knows completely) and get a valid number of arguments.
  function checkAttributeCalls(node) {
    const parts = named(node);
    let type = typer.infer(parts[0]);
    for (const part of parts.slice(1)) {
      if (part.type === 'attribute_call') {
        const name = named(part)[0]?.text ?? '';
        const isStatic = type.startsWith('class:');
        const target = isStatic ? typer.index.byClass.get(type.slice(6)) : typer.scriptOfType(type);
        if (target) {
          const lookup = name === 'new' ? '_init' : name;
          const fn = typer.definitionOf(target, lookup);
          if (fn) checkArity(part, `${target.info.className ?? target.resPath}.${name}`, fn, argumentCount(part));
          else if (name !== 'new') {
            const chain = chainOf(target, index);
            const base = nativeNames(chain.native);
            const complete = chain.native === 'RefCounted' || chain.native === 'Object';
            if (complete && !base.names.has(name))
              report(part, 'call', `${target.info.className ?? target.resPath} has no function ${name}()`);
          }
        }
        type = typer.method(type, name);
      } else if (part.type === 'identifier') {
        type = typer.member(type, part.text);
      } else {
        return;
      }
      if (type === '?') return;
    }
  }

  function checkSuper(node, name) {
    const parent = index.parentOf(script);
    if (parent.native) {
      if (name.startsWith('_'))
        report(node, 'super-call', `super.${name}() calls into the native ${parent.native}, which has no script implementation`);
      return;
    }
    if (parent.script) {
      const defined = chainOf(parent.script, index).scripts.some((s) => s.info.functions.has(name));
      const nativeHas = nativeNames(chainOf(parent.script, index).native).names.has(name);
      if (!defined && !nativeHas) report(node, 'super-call', `super.${name}(): no parent script defines ${name}()`);
    }
  }

  // Members first (so functions see their types), then everything in source order.
  for (const node of named(tree.rootNode)) {
    if (node.type === 'function_definition' || node.type === 'class_definition') continue;
    walk(node, false);
  }
  for (const node of named(tree.rootNode)) {
    if (node.type !== 'function_definition' && node.type !== 'class_definition') continue;
    typer.scope = new Map();
    walk(node, false);
  }

  // Indentation: tabs only (Godot refuses a file that mixes tabs and spaces).
  let inString = false;
  text.split('\n').forEach((line, i) => {
    const quotes = (line.match(/"""/g) ?? []).length;
    if (!inString && /^ +\S/.test(line)) report(i + 1, 'indentation', 'indented with spaces: this project indents GDScript with tabs');
    if (quotes % 2 === 1) inString = !inString;
  });
  return problems;
}
