import { acceptEvent, type FieldError } from '../../shared/validate-event.ts';

/** The errors acceptEvent finds in a value (none when it is a valid event). */
export const validateEvent = (value: unknown, index?: number): FieldError[] => {
  const result = acceptEvent(value, index);
  return result.ok ? [] : result.errors;
};
