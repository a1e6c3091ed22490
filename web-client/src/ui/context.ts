import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ConsoleModel } from '../state/console';

export const ConsoleContext = createContext<ConsoleModel | null>(null);

/** The signed-in console's model; re-renders the caller when the store's revision moves. */
export function useConsole(): ConsoleModel {
  const model = useContext(ConsoleContext);
  if (!model) throw new Error('useConsole outside the console');
  void model.revision.value; // subscribe: lists and panels follow the store
  return model;
}
