@tool
class_name AgentVMJson
extends RefCounted
## Typed reads from parsed JSON. The API answers with JSON, which Godot parses into Variants:
## numbers arrive as floats, absent fields and JSON null as null. These helpers return the type
## the caller asks for, or its fallback, so no value of the wrong type reaches a typed variable.


## Parses JSON text; returns null (without printing an error) when the text is not JSON.
static func parse(text: String) -> Variant:
	if text.strip_edges() == "":
		return null
	var json := JSON.new()
	if json.parse(text) != OK:
		return null
	return json.data


## Parses JSON text that must be an object; returns {} otherwise.
static func parse_object(text: String) -> Dictionary:
	var parsed: Variant = parse(text)
	if parsed is Dictionary:
		return parsed
	return {}


## A string field; the fallback when it is absent, null or not a string.
static func string_of(data: Dictionary, key: String, fallback: String = "") -> String:
	var value: Variant = data.get(key)
	if value is String:
		return value
	if value is StringName:
		return String(value)
	return fallback


## A numeric field as a float (JSON numbers may come as int or float).
static func number_of(data: Dictionary, key: String, fallback: float = 0.0) -> float:
	var value: Variant = data.get(key)
	if value is float or value is int:
		return float(value)
	return fallback


## A numeric field as an int (for seq, attempts, counts).
static func int_of(data: Dictionary, key: String, fallback: int = 0) -> int:
	var value: Variant = data.get(key)
	if value is float or value is int:
		return int(value)
	return fallback


## A boolean field.
static func bool_of(data: Dictionary, key: String, fallback: bool = false) -> bool:
	var value: Variant = data.get(key)
	if value is bool:
		return value
	return fallback


## An object field; {} when absent or not an object.
static func dict_of(data: Dictionary, key: String) -> Dictionary:
	var value: Variant = data.get(key)
	if value is Dictionary:
		return value
	return {}


## An array field; [] when absent or not an array.
static func array_of(data: Dictionary, key: String) -> Array:
	var value: Variant = data.get(key)
	if value is Array:
		return value
	return []


## The objects of an array field, skipping anything that is not an object.
static func objects_of(data: Dictionary, key: String) -> Array[Dictionary]:
	var objects: Array[Dictionary] = []
	for item: Variant in array_of(data, key):
		if item is Dictionary:
			objects.append(item)
	return objects


## A position object {x, y, z} as a Vector3.
static func vector3_of(data: Dictionary, key: String, fallback: Vector3 = Vector3.ZERO) -> Vector3:
	var value: Variant = data.get(key)
	if not (value is Dictionary):
		return fallback
	var point: Dictionary = value
	return Vector3(number_of(point, "x", fallback.x), number_of(point, "y", fallback.y), number_of(point, "z", fallback.z))


## A Vector3 as the contract's position object.
static func position_object(point: Vector3) -> Dictionary:
	return {"x": point.x, "y": point.y, "z": point.z}


## A copy of a JSON value with every number as a float and object keys sorted, so two values
## that mean the same JSON compare equal (1 and 1.0 are the same JSON number).
static func canonical(value: Variant) -> Variant:
	if value is int:
		return float(value)
	if value is Dictionary:
		var source: Dictionary = value
		var keys: Array = source.keys()
		keys.sort()
		var sorted: Dictionary = {}
		for key: Variant in keys:
			sorted[str(key)] = canonical(source[key])
		return sorted
	if value is Array:
		var items: Array = []
		for item: Variant in value:
			items.append(canonical(item))
		return items
	if value is PackedStringArray:
		var strings: Array = []
		for item: String in value:
			strings.append(item)
		return strings
	return value


## True when two JSON values are the same JSON (see canonical()).
static func same(a: Variant, b: Variant) -> bool:
	return JSON.stringify(canonical(a), "", false) == JSON.stringify(canonical(b), "", false)
