/**
 * The one place @peculiar/x509 is imported from: its dependency tsyringe needs
 * the Reflect metadata API, which must be loaded first (ES modules evaluate
 * imports in source order).
 */
import 'reflect-metadata';

export * as x509 from '@peculiar/x509';
